"""Harvest time-zone names <-> IANA zone ids.

Harvest stores and returns time zones as display names ("Eastern Time (US & Canada)"), not IANA ids
(docs/harvest-api.md §6.2, gotcha 9; DOC-TZ). Harvest is a Rails application and its supported list is
Rails' ``ActiveSupport::TimeZone::MAPPING``; SCIM and directories speak IANA, so every part of thresher
that crosses that border goes through this module.

``harvest_to_iana`` is exact for every supported name. ``iana_to_harvest`` is exact for every IANA id
that a Harvest name maps to (choosing one preferred name where several share a zone), follows common
IANA aliases, and otherwise falls back to the Harvest zone whose UTC offsets (winter and summer) match,
so any valid IANA zone has an answer.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

__all__ = [
    "HARVEST_TIMEZONES",
    "UnknownTimezoneError",
    "harvest_to_iana",
    "iana_to_harvest",
    "is_harvest_timezone",
    "normalize_timezone",
]


class UnknownTimezoneError(ValueError):
    """A time zone that is neither a Harvest name nor a known IANA id."""


# Harvest display name -> IANA id (Rails ActiveSupport::TimeZone::MAPPING), in Harvest's order.
HARVEST_TIMEZONES: dict[str, str] = {
    "International Date Line West": "Etc/GMT+12",
    "Midway Island": "Pacific/Midway",
    "American Samoa": "Pacific/Pago_Pago",
    "Hawaii": "Pacific/Honolulu",
    "Alaska": "America/Juneau",
    "Pacific Time (US & Canada)": "America/Los_Angeles",
    "Tijuana": "America/Tijuana",
    "Mountain Time (US & Canada)": "America/Denver",
    "Arizona": "America/Phoenix",
    "Chihuahua": "America/Chihuahua",
    "Mazatlan": "America/Mazatlan",
    "Central Time (US & Canada)": "America/Chicago",
    "Saskatchewan": "America/Regina",
    "Guadalajara": "America/Mexico_City",
    "Mexico City": "America/Mexico_City",
    "Monterrey": "America/Monterrey",
    "Central America": "America/Guatemala",
    "Eastern Time (US & Canada)": "America/New_York",
    "Indiana (East)": "America/Indiana/Indianapolis",
    "Bogota": "America/Bogota",
    "Lima": "America/Lima",
    "Quito": "America/Lima",
    "Atlantic Time (Canada)": "America/Halifax",
    "Caracas": "America/Caracas",
    "La Paz": "America/La_Paz",
    "Santiago": "America/Santiago",
    "Newfoundland": "America/St_Johns",
    "Brasilia": "America/Sao_Paulo",
    "Buenos Aires": "America/Argentina/Buenos_Aires",
    "Montevideo": "America/Montevideo",
    "Georgetown": "America/Guyana",
    "Puerto Rico": "America/Puerto_Rico",
    "Greenland": "America/Godthab",
    "Mid-Atlantic": "Atlantic/South_Georgia",
    "Azores": "Atlantic/Azores",
    "Cape Verde Is.": "Atlantic/Cape_Verde",
    "Dublin": "Europe/Dublin",
    "Edinburgh": "Europe/London",
    "Lisbon": "Europe/Lisbon",
    "London": "Europe/London",
    "Casablanca": "Africa/Casablanca",
    "Monrovia": "Africa/Monrovia",
    "UTC": "Etc/UTC",
    "Belgrade": "Europe/Belgrade",
    "Bratislava": "Europe/Bratislava",
    "Budapest": "Europe/Budapest",
    "Ljubljana": "Europe/Ljubljana",
    "Prague": "Europe/Prague",
    "Sarajevo": "Europe/Sarajevo",
    "Skopje": "Europe/Skopje",
    "Warsaw": "Europe/Warsaw",
    "Zagreb": "Europe/Zagreb",
    "Brussels": "Europe/Brussels",
    "Copenhagen": "Europe/Copenhagen",
    "Madrid": "Europe/Madrid",
    "Paris": "Europe/Paris",
    "Amsterdam": "Europe/Amsterdam",
    "Berlin": "Europe/Berlin",
    "Bern": "Europe/Zurich",
    "Zurich": "Europe/Zurich",
    "Rome": "Europe/Rome",
    "Stockholm": "Europe/Stockholm",
    "Vienna": "Europe/Vienna",
    "West Central Africa": "Africa/Algiers",
    "Bucharest": "Europe/Bucharest",
    "Cairo": "Africa/Cairo",
    "Helsinki": "Europe/Helsinki",
    "Kyiv": "Europe/Kiev",
    "Riga": "Europe/Riga",
    "Sofia": "Europe/Sofia",
    "Tallinn": "Europe/Tallinn",
    "Vilnius": "Europe/Vilnius",
    "Athens": "Europe/Athens",
    "Istanbul": "Europe/Istanbul",
    "Minsk": "Europe/Minsk",
    "Jerusalem": "Asia/Jerusalem",
    "Harare": "Africa/Harare",
    "Pretoria": "Africa/Johannesburg",
    "Kaliningrad": "Europe/Kaliningrad",
    "Moscow": "Europe/Moscow",
    "St. Petersburg": "Europe/Moscow",
    "Volgograd": "Europe/Volgograd",
    "Samara": "Europe/Samara",
    "Kuwait": "Asia/Kuwait",
    "Riyadh": "Asia/Riyadh",
    "Nairobi": "Africa/Nairobi",
    "Baghdad": "Asia/Baghdad",
    "Tehran": "Asia/Tehran",
    "Abu Dhabi": "Asia/Muscat",
    "Muscat": "Asia/Muscat",
    "Baku": "Asia/Baku",
    "Tbilisi": "Asia/Tbilisi",
    "Yerevan": "Asia/Yerevan",
    "Kabul": "Asia/Kabul",
    "Ekaterinburg": "Asia/Yekaterinburg",
    "Islamabad": "Asia/Karachi",
    "Karachi": "Asia/Karachi",
    "Tashkent": "Asia/Tashkent",
    "Chennai": "Asia/Kolkata",
    "Kolkata": "Asia/Kolkata",
    "Mumbai": "Asia/Kolkata",
    "New Delhi": "Asia/Kolkata",
    "Kathmandu": "Asia/Kathmandu",
    "Dhaka": "Asia/Dhaka",
    "Sri Jayawardenepura": "Asia/Colombo",
    "Almaty": "Asia/Almaty",
    "Astana": "Asia/Almaty",
    "Novosibirsk": "Asia/Novosibirsk",
    "Rangoon": "Asia/Rangoon",
    "Bangkok": "Asia/Bangkok",
    "Hanoi": "Asia/Bangkok",
    "Jakarta": "Asia/Jakarta",
    "Krasnoyarsk": "Asia/Krasnoyarsk",
    "Beijing": "Asia/Shanghai",
    "Chongqing": "Asia/Chongqing",
    "Hong Kong": "Asia/Hong_Kong",
    "Urumqi": "Asia/Urumqi",
    "Kuala Lumpur": "Asia/Kuala_Lumpur",
    "Singapore": "Asia/Singapore",
    "Taipei": "Asia/Taipei",
    "Perth": "Australia/Perth",
    "Irkutsk": "Asia/Irkutsk",
    "Ulaanbaatar": "Asia/Ulaanbaatar",
    "Seoul": "Asia/Seoul",
    "Osaka": "Asia/Tokyo",
    "Sapporo": "Asia/Tokyo",
    "Tokyo": "Asia/Tokyo",
    "Yakutsk": "Asia/Yakutsk",
    "Darwin": "Australia/Darwin",
    "Adelaide": "Australia/Adelaide",
    "Canberra": "Australia/Canberra",
    "Melbourne": "Australia/Melbourne",
    "Sydney": "Australia/Sydney",
    "Brisbane": "Australia/Brisbane",
    "Hobart": "Australia/Hobart",
    "Vladivostok": "Asia/Vladivostok",
    "Guam": "Pacific/Guam",
    "Port Moresby": "Pacific/Port_Moresby",
    "Magadan": "Asia/Magadan",
    "Srednekolymsk": "Asia/Srednekolymsk",
    "Solomon Is.": "Pacific/Guadalcanal",
    "New Caledonia": "Pacific/Noumea",
    "Fiji": "Pacific/Fiji",
    "Kamchatka": "Asia/Kamchatka",
    "Marshall Is.": "Pacific/Majuro",
    "Auckland": "Pacific/Auckland",
    "Wellington": "Pacific/Auckland",
    "Nuku'alofa": "Pacific/Tongatapu",
    "Tokelau Is.": "Pacific/Fakaofo",
    "Chatham Is.": "Pacific/Chatham",
    "Samoa": "Pacific/Apia",
}

# Where several Harvest names share one IANA zone, the name a person in that zone would pick.
_PREFERRED: dict[str, str] = {
    "America/Mexico_City": "Mexico City",
    "America/Lima": "Lima",
    "Europe/London": "London",
    "Europe/Zurich": "Zurich",
    "Europe/Moscow": "Moscow",
    "Asia/Muscat": "Abu Dhabi",
    "Asia/Karachi": "Karachi",
    "Asia/Kolkata": "New Delhi",
    "Asia/Almaty": "Almaty",
    "Asia/Bangkok": "Bangkok",
    "Asia/Tokyo": "Tokyo",
    "Pacific/Auckland": "Auckland",
}

# IANA links and renames that are not in the table above but name one of its zones. zoneinfo does
# not expose link targets, so the common ones are listed (tzdata `backward` file).
_ALIASES: dict[str, str] = {
    "UTC": "Etc/UTC",
    "Etc/GMT": "Etc/UTC",
    "Etc/Universal": "Etc/UTC",
    "Etc/Zulu": "Etc/UTC",
    "GMT": "Etc/UTC",
    "Zulu": "Etc/UTC",
    "US/Eastern": "America/New_York",
    "US/Central": "America/Chicago",
    "US/Mountain": "America/Denver",
    "US/Pacific": "America/Los_Angeles",
    "US/Alaska": "America/Juneau",
    "US/Arizona": "America/Phoenix",
    "US/Hawaii": "Pacific/Honolulu",
    "US/East-Indiana": "America/Indiana/Indianapolis",
    "America/Indianapolis": "America/Indiana/Indianapolis",
    "America/Anchorage": "America/Juneau",
    "America/Nuuk": "America/Godthab",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "Canada/Atlantic": "America/Halifax",
    "Canada/Newfoundland": "America/St_Johns",
    "Canada/Saskatchewan": "America/Regina",
    "Canada/Eastern": "America/New_York",
    "Canada/Pacific": "America/Los_Angeles",
    "America/Toronto": "America/New_York",
    "America/Vancouver": "America/Los_Angeles",
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Saigon": "Asia/Bangkok",
    "Asia/Ho_Chi_Minh": "Asia/Bangkok",
    "Asia/Yangon": "Asia/Rangoon",
    "Asia/Ulan_Bator": "Asia/Ulaanbaatar",
    "Europe/Kyiv": "Europe/Kiev",
    "Europe/Belfast": "Europe/London",
    "GB": "Europe/London",
    "Eire": "Europe/Dublin",
    "Israel": "Asia/Jerusalem",
    "Asia/Tel_Aviv": "Asia/Jerusalem",
    "Turkey": "Europe/Istanbul",
    "Asia/Istanbul": "Europe/Istanbul",
    "Japan": "Asia/Tokyo",
    "ROK": "Asia/Seoul",
    "PRC": "Asia/Shanghai",
    "ROC": "Asia/Taipei",
    "Hongkong": "Asia/Hong_Kong",
    "Singapore": "Asia/Singapore",
    "NZ": "Pacific/Auckland",
    "NZ-CHAT": "Pacific/Chatham",
    "Australia/ACT": "Australia/Canberra",
    "Australia/NSW": "Australia/Sydney",
    "Australia/Victoria": "Australia/Melbourne",
    "Australia/Queensland": "Australia/Brisbane",
    "Australia/West": "Australia/Perth",
    "Australia/North": "Australia/Darwin",
    "Australia/South": "Australia/Adelaide",
    "Australia/Tasmania": "Australia/Hobart",
    "Brazil/East": "America/Sao_Paulo",
    "Chile/Continental": "America/Santiago",
    "Egypt": "Africa/Cairo",
    "Iran": "Asia/Tehran",
    "Poland": "Europe/Warsaw",
    "Portugal": "Europe/Lisbon",
    "W-SU": "Europe/Moscow",
    "Pacific/Samoa": "Pacific/Pago_Pago",
    "US/Samoa": "Pacific/Pago_Pago",
    "Pacific/Kwajalein": "Pacific/Majuro",
}

_IANA_TO_HARVEST: dict[str, str] = {}
for _name, _iana in HARVEST_TIMEZONES.items():
    _IANA_TO_HARVEST.setdefault(_iana, _name)
_IANA_TO_HARVEST.update(_PREFERRED)
_LOWER_NAMES = {name.lower(): name for name in HARVEST_TIMEZONES}


def is_harvest_timezone(name: str) -> bool:
    """True when ``name`` is exactly one of Harvest's supported time-zone names."""
    return name in HARVEST_TIMEZONES


def harvest_to_iana(name: str) -> str:
    """The IANA id for a Harvest time-zone name (case-insensitive)."""
    canonical = name if name in HARVEST_TIMEZONES else _LOWER_NAMES.get(name.strip().lower())
    if canonical is None:
        raise UnknownTimezoneError(
            f"{name!r} is not a Harvest time zone; use a name such as 'Eastern Time (US & Canada)' "
            "or an IANA id such as 'America/New_York'"
        )
    return HARVEST_TIMEZONES[canonical]


def _offsets(zone: str, year: int) -> tuple[dt.timedelta | None, dt.timedelta | None]:
    tz = zoneinfo.ZoneInfo(zone)
    winter = dt.datetime(year, 1, 15, 12, tzinfo=tz).utcoffset()
    summer = dt.datetime(year, 7, 15, 12, tzinfo=tz).utcoffset()
    return winter, summer


def _distance(a: dt.timedelta | None, b: dt.timedelta | None) -> float:
    return abs(((a or dt.timedelta()) - (b or dt.timedelta())).total_seconds())


@functools.lru_cache(maxsize=1024)
def _by_offset(iana: str, year: int) -> str:
    """Same offsets winter and summer if any Harvest zone has them, else the nearest ones."""
    target = _offsets(iana, year)
    best, best_score = "UTC", float("inf")
    for harvest_iana, name in _IANA_TO_HARVEST.items():
        winter, summer = _offsets(harvest_iana, year)
        score = _distance(winter, target[0]) + _distance(summer, target[1])
        if score < best_score:
            best, best_score = name, score
    return best


def iana_to_harvest(iana: str, *, exact: bool = False) -> str:
    """The Harvest time-zone name for an IANA id.

    With ``exact=True`` only zones Harvest lists (or their aliases) are accepted; otherwise a zone
    Harvest does not list maps to the first Harvest zone with the same winter and summer offsets
    this year (``Europe/Oslo`` -> ``Belgrade``), which keeps a user's local clock right; a zone whose
    offsets no Harvest zone shares (``Australia/Lord_Howe``) gets the nearest ones.
    """
    key = _ALIASES.get(iana, iana)
    if key in _IANA_TO_HARVEST:
        return _IANA_TO_HARVEST[key]
    try:
        zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimezoneError(
            f"{iana!r} is not an IANA time zone id; use one such as 'Europe/Berlin'"
        ) from exc
    if exact:
        raise UnknownTimezoneError(f"{iana!r} is not one of Harvest's time zones")
    return _by_offset(key, dt.datetime.now(dt.UTC).year)


def normalize_timezone(value: str) -> str:
    """Accept a Harvest name or an IANA id and return the Harvest name."""
    if value in HARVEST_TIMEZONES:
        return value
    lowered = _LOWER_NAMES.get(value.strip().lower())
    if lowered is not None:
        return lowered
    return iana_to_harvest(value.strip())
