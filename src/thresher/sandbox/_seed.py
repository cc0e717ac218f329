"""A deterministic generator of realistic Harvest accounts at any size.

Same ``(seed, users, config)`` gives the same account, byte for byte: names, unique emails, time
zones from Harvest's list (weighted toward the common ones), a mix of access roles (few
administrators, some managers with add-ons and teammates, mostly members), business roles, clients,
projects with tasks, user assignments, rate histories, and time entries for a share of users (who
therefore cannot be deleted, §6.4). Timestamps lie in the five years before ``config.seed_epoch``.

The first three users own the personal access tokens: the account's administrator, a manager with
teammates (the member among them), and a member. All three are active and have tracked time.

It is written for speed (100,000 users in a few seconds): one ``random.Random``, draws from
precomputed tuples, no per-user validation.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import deque

from ..harvest import HARVEST_TIMEZONES, MANAGER_ADDONS
from ._clock import SandboxClock, parse_ts
from ._clock import format_date as _format_date
from ._collector import collector_paused
from ._config import SandboxConfig
from ._records import (
    AccessToken,
    Client,
    Company,
    Expense,
    Project,
    Rate,
    Task,
    TaskAssignment,
    TimeEntry,
    User,
)
from ._state import ID_BASES, SandboxState, rate_sort_key

__all__ = ["derive_account_ids", "generate"]

FIRST_NAMES = (
    "Aaliyah", "Aaron", "Abigail", "Adam", "Aditi", "Adrian", "Aiko", "Aisha", "Alejandro", "Alex",
    "Alice", "Amara", "Amelia", "Ana", "Andrés", "Andrew", "Anna", "Anton", "Aria", "Arjun",
    "Astrid", "Ava", "Ben", "Bianca", "Bjorn", "Brandon", "Bruno", "Camila", "Carlos", "Caroline",
    "Chen", "Chloe", "Chris", "Clara", "Daniel", "David", "Diego", "Dmitri", "Elena", "Eli",
    "Elif", "Emily", "Emma", "Ethan", "Fatima", "Felix", "Fernando", "Fiona", "Freya", "Gabriel",
    "George", "Grace", "Hana", "Hannah", "Hiroshi", "Hugo", "Ibrahim", "Ingrid", "Isaac", "Isabel",
    "Ivan", "Jack", "James", "Jana", "Javier", "Jia", "Jim", "Joanna", "John", "Jonas",
    "José", "Julia", "Kai", "Karim", "Kate", "Kenji", "Kim", "Lars", "Laura", "Leila",
    "Leo", "Liam", "Lina", "Lucas", "Lucía", "Luis", "Maya", "Mateo", "Matteo", "Mei",
    "Mia", "Michael", "Mohammed", "Nadia", "Naomi", "Nathan", "Nia", "Nikolai", "Noah", "Nora",
    "Olivia", "Omar", "Oscar", "Pablo", "Paula", "Priya", "Rafael", "Rahul", "Rania", "Ravi",
    "Renée", "Rosa", "Ryan", "Sakura", "Samuel", "Sara", "Sebastian", "Sofia", "Soren", "Sun",
    "Tariq", "Thomas", "Tomás", "Uma", "Valentina", "Victor", "Wei", "William", "Xavier", "Yara",
    "Yuki", "Yusuf", "Zara", "Zoë", "Zoltan",
)
LAST_NAMES = (
    "Abbott", "Adeyemi", "Alvarez", "Andersen", "Bauer", "Becker", "Bennett", "Bergström", "Brooks",
    "Campbell", "Castillo", "Chen", "Chowdhury", "Clarke", "Cohen", "Costa", "Cruz", "Dubois",
    "Dunn", "Edwards", "Eriksen", "Fischer", "Flores", "Fontaine", "Garcia", "Gonzalez", "Gupta",
    "Haddad", "Hansen", "Harris", "Hoffmann", "Hughes", "Ibrahim", "Ito", "Jackson", "Jensen",
    "Johansson", "Kaur", "Keller", "Khan", "Kim", "Kowalski", "Kumar", "Larsen", "Laurent", "Lee",
    "Lindqvist", "Lopez", "Martin", "Martínez", "Meyer", "Moreau", "Müller", "Murphy", "Nakamura",
    "Nguyen", "Nielsen", "Novak", "O'Brien", "Okafor", "Olsen", "Ortiz", "Park", "Patel", "Perez",
    "Petrov", "Powell", "Quinn", "Ramirez", "Reyes", "Richter", "Rivera", "Roberts", "Rossi",
    "Russo", "Sanchez", "Santos", "Sato", "Schmidt", "Schneider", "Shah", "Silva", "Singh",
    "Smith", "Sokolov", "Suzuki", "Tanaka", "Taylor", "Thompson", "Torres", "Van Dijk", "Vargas",
    "Wagner", "Walker", "Wang", "Weber", "Williams", "Wilson", "Wójcik", "Yamamoto", "Yilmaz",
    "Young", "Zhang", "Zimmermann",
)
COMPANY_FIRST = ("Northwind", "Bluebird", "Copperleaf", "Greenfield", "Harbor", "Ironbark",
                 "Juniper", "Lighthouse", "Maple", "Orbit", "Pinecrest", "Riverstone", "Silverline",
                 "Tidewater", "Windmill")
COMPANY_SECOND = ("Studio", "Labs", "Consulting", "Partners", "Digital", "Design Co", "Works",
                  "Collective", "Agency", "Engineering")
ROLE_NAMES = ("Engineering", "Design", "Sales", "Marketing", "Support", "Finance", "Operations",
              "Leadership", "Product", "Research", "Legal", "People", "Data", "Security", "QA",
              "Content")
TASK_NAMES = (("Design", True), ("Development", True), ("Project Management", True),
              ("Meetings", False), ("Research", True), ("QA", True), ("Support", True),
              ("Business Development", False))
PROJECT_WORDS = ("Website Redesign", "Mobile App", "Brand Refresh", "Data Platform", "Onboarding",
                 "Online Store", "Annual Report", "API Integration", "Marketing Campaign",
                 "Customer Portal", "Migration", "Security Audit", "Analytics Dashboard",
                 "Support Retainer", "Discovery")
CLIENT_WORDS = ("Industries", "Corp", "Holdings", "Group", "Foods", "Health", "Logistics",
                "Media", "Energy", "Finance", "Retail", "Robotics", "Travel", "Education")
COMMON_ZONES = ("Eastern Time (US & Canada)", "Pacific Time (US & Canada)", "Central Time (US & Canada)",
                "Mountain Time (US & Canada)", "London", "Berlin", "Paris", "Amsterdam", "Madrid",
                "Sydney", "Tokyo", "Mumbai")
AVATARS = ("big_ben", "abraj_albait_towers", "cornell_clock_tower", "allen_bradley_clock_tower",
           "zytglogge", "prague_astronomical_clock", "rajabai_tower", "spasskaya_tower")
CAPACITIES = (126000,) * 7 + (144000, 108000, 72000)
BILLABLE = (75.0, 90.0, 100.0, 120.0, 125.0, 150.0, 175.0, 200.0)
COST = (40.0, 50.0, 60.0, 65.0, 75.0, 90.0)
_FIVE_YEARS = 5 * 365 * 86400


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", folded.lower())


_DAYS: dict[int, str] = {}


def format_date(ts: int) -> str:
    """``_clock.format_date`` remembered per day: a 100,000-user account dates some 130,000 time
    entries, rates and expenses on 1,800 days, and strftime was a tenth of the seeding time."""
    day = ts // 86400
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = _format_date(day * 86400)
    return text


def derive_account_ids(seed: int) -> tuple[int, int]:
    """The (Harvest, Forecast) account ids a seed gets when the config names none."""
    rng = random.Random(f"accounts:{seed}")
    return rng.randrange(1_000_000, 2_000_000), rng.randrange(2_000_000, 3_000_000)


def generate(
    config: SandboxConfig,
    clock: SandboxClock,
    *,
    users: int,
    seed: int,
    tokens: tuple[str, str, str],
    account_ids: tuple[int, int],
) -> SandboxState:
    """Build a fresh account of ``users`` users; ``tokens`` are the administrator's, the
    manager's and the member's personal access tokens, ``account_ids`` the Harvest and Forecast
    account ids (they belong to the sandbox, not to the seed, so a reseed keeps them)."""
    with collector_paused():
        return _generate(config, clock, users, seed, tokens, account_ids)


def _generate(  # noqa: PLR0917 -- the private body of generate(), same arguments
    config: SandboxConfig,
    clock: SandboxClock,
    users: int,
    seed: int,
    tokens: tuple[str, str, str],
    account_ids: tuple[int, int],
) -> SandboxState:
    rng = random.Random(seed)
    rand = rng.random
    company_name = config.company_name or (
        f"{COMPANY_FIRST[int(rand() * len(COMPANY_FIRST))]} "
        f"{COMPANY_SECOND[int(rand() * len(COMPANY_SECOND))]}"
    )
    slug = re.sub(r"[^a-z0-9]+", "-", _ascii_keep_space(company_name)).strip("-") or "sandbox"
    domain = f"{slug}.example.com"
    company = Company(
        base_uri=f"https://{slug}.harvestapp.com", full_domain=f"{slug}.harvestapp.com",
        name=company_name, is_active=True, week_start_day="Monday", wants_timestamp_timers=False,
        time_format="hours_minutes", date_format="%m/%d/%Y", plan_type="simple-v4", clock="12h",
        currency_code_display="iso_code_none", currency_symbol_display="symbol_before",
        decimal_symbol=".", thousands_separator=",", color_scheme="orange", weekly_capacity=126000,
        expense_feature=True, invoice_feature=True, estimate_feature=True, approval_feature=True,
        team_feature=True,
    )
    state = SandboxState(
        clock=clock,
        account_id=account_ids[0],
        forecast_account_id=account_ids[1],
        company=company,
        next_ids={kind: base + config.id_base for kind, base in ID_BASES.items()},
        request_log=deque(maxlen=config.request_log_size),
    )
    end = int(parse_ts(config.seed_epoch))
    start = end - _FIVE_YEARS
    step = _FIVE_YEARS / (users + 1)

    # -- catalogue: tasks, clients, projects ------------------------------------------------------
    for name, billable_task in TASK_NAMES:
        tid = state.next_id("task")
        state.tasks[tid] = Task(tid, name, billable_task, start, start)
    task_ids = list(state.tasks)
    n_projects = max(3, min(500, users // 8))
    n_clients = max(2, min(150, n_projects // 3))
    client_ids = []
    for i in range(n_clients):
        cid = state.next_id("client")
        name = f"{LAST_NAMES[int(rand() * len(LAST_NAMES))]} {CLIENT_WORDS[i % len(CLIENT_WORDS)]}"
        state.clients[cid] = Client(cid, name, "USD", True, start + i, start + i)
        client_ids.append(cid)
    project_ids = []
    for i in range(n_projects):
        pid = state.next_id("project")
        created = start + int(i * _FIVE_YEARS / n_projects)
        chosen = rng.sample(task_ids, 3 + int(rand() * 3))
        tas = [
            TaskAssignment(state.next_id("task_assignment"), tid, state.tasks[tid].billable_by_default,
                           True, None, None, created, created)
            for tid in chosen
        ]
        round_, word = divmod(i, len(PROJECT_WORDS))
        name = PROJECT_WORDS[word] + (f" {round_ + 1}" if round_ else "")
        state.projects[pid] = Project(
            pid, client_ids[int(rand() * n_clients)], name, f"P{i + 1:04d}", rand() > 0.1, True, tas,
            created, created,
        )
        project_ids.append(pid)

    # -- roles ----------------------------------------------------------------------------------
    n_roles = min(len(ROLE_NAMES), 4 + users // 200)
    for i in range(n_roles):
        role = state.add_role(ROLE_NAMES[i])
        role.created_at = role.updated_at = start + i * 3600
    role_ids = list(state.roles)

    # -- users ----------------------------------------------------------------------------------
    nf, nl, nz, nzc = len(FIRST_NAMES), len(LAST_NAMES), len(COMMON_ZONES), len(HARVEST_TIMEZONES)
    all_zones = tuple(HARVEST_TIMEZONES)
    ascii_first = [_ascii(n) for n in FIRST_NAMES]
    ascii_last = [_ascii(n) for n in LAST_NAMES]
    emails: dict[str, int] = {}
    members: list[int] = []
    managers: list[int] = []
    owners: list[int] = []
    today = format_date(end)
    users_by_id = state.users
    user_ids = state.user_ids
    memberships: dict[int, list[int]] = {rid: [] for rid in role_ids}
    billable_rates, cost_rates = state.billable_rates, state.cost_rates
    next_rate = state.next_ids["rate"]
    for i in range(users):
        uid = state.next_id("user")
        fi, li = int(rand() * nf), int(rand() * nl)
        local = f"{ascii_first[fi]}.{ascii_last[li]}"
        count = emails.get(local, 0) + 1
        emails[local] = count
        email = f"{local}@{domain}" if count == 1 else f"{local}{count}@{domain}"
        created = start + int(i * step + rand() * step * 0.5)
        updated = created + int(rand() * (end - created) * 0.5)
        if i == 0:
            access = ["administrator"]
        elif i == 1:
            access = ["manager", "project_creator", "billable_rates_manager"]
        elif i == 2:
            access = ["member"]
        else:
            r = rand()
            if r < 0.03:
                access = ["administrator"]
            elif r < 0.15:
                access = ["manager"] + [a for a in MANAGER_ADDONS if rand() < 0.3]
            else:
                access = ["member"]
        zone = COMMON_ZONES[int(rand() * nz)] if rand() < 0.8 else all_zones[int(rand() * nzc)]
        has_rates = i < 3 or rand() > 0.08
        billable = BILLABLE[int(rand() * len(BILLABLE))] if has_rates else None
        cost = COST[int(rand() * len(COST))] if has_rates else None
        user = User(
            uid, FIRST_NAMES[fi], LAST_NAMES[li], email, "", zone,
            rand() < 0.08, rand() < 0.1, i < 3 or rand() > 0.08,
            CAPACITIES[int(rand() * len(CAPACITIES))], billable, cost, access,
            f"https://cache.harvestapp.com/assets/profile_images/{AVATARS[uid % len(AVATARS)]}.png?{created}",
            created, updated,
        )
        users_by_id[uid] = user
        user_ids.append(uid)
        if i < 3:
            owners.append(uid)
        if access[0] == "member":
            members.append(uid)
        elif access[0] == "manager":
            managers.append(uid)
        r = rand()
        if r < 0.6:
            memberships[role_ids[int(rand() * n_roles)]].append(uid)
        if r < 0.1:
            memberships[role_ids[int(rand() * n_roles)]].append(uid)
        if billable is not None and cost is not None:
            # Most users have one rate from the beginning; some a raise on a later date.
            if rand() < 0.25:
                raise_on = format_date(created + int(rand() * (end - created)))
                first = BILLABLE[max(0, BILLABLE.index(billable) - 1)]
                billable_rates[uid] = [Rate(next_rate, first, None, created, created),
                                       Rate(next_rate + 1, billable, min(raise_on, today), updated, updated)]
                next_rate += 2
            else:
                billable_rates[uid] = [Rate(next_rate, billable, None, created, created)]
                next_rate += 1
            cost_rates[uid] = [Rate(next_rate, cost, None, created, created)]
            next_rate += 1
    state.next_ids["rate"] = next_rate
    for rid, uids in memberships.items():
        state.roles[rid].user_ids = sorted(set(uids))
    state.reindex()

    # -- teammates (§7.1): the token manager manages the token member -------------------------------
    _, manager_id, member_id = owners
    pool = members or [member_id]
    state.teammates[manager_id] = sorted({member_id, *rng.sample(pool, min(len(pool), 3))} - {manager_id})
    for mid in managers[1:]:
        if rand() < 0.6:
            picked = set(rng.sample(pool, min(len(pool), 2 + int(rand() * 7)))) - {mid}
            if picked:
                state.teammates[mid] = sorted(picked)

    # -- assignments, time, expenses --------------------------------------------------------------
    for uid in state.user_ids:
        user = users_by_id[uid]
        lead = user.access_roles[0] != "member"
        chosen_projects = sorted({project_ids[int(rand() * n_projects)] for _ in range(1 + int(rand() * 3))})
        for pid in chosen_projects:
            state.assign(state.projects[pid], user, is_project_manager=lead and rand() < 0.5,
                         hourly_rate=user.default_hourly_rate,
                         created_at=max(user.created_at, state.projects[pid].created_at))
        if uid in owners or rand() < 0.4:
            entries = state.time_entries[uid] = []
            for _ in range(1 + int(rand() * 4)):
                pid = chosen_projects[int(rand() * len(chosen_projects))]
                spent = user.created_at + int(rand() * (end - user.created_at))
                task_id = state.projects[pid].task_assignments[0].task_id
                entries.append(TimeEntry(state.next_id("time_entry"), uid, pid, task_id,
                                         format_date(spent), round(0.25 + rand() * 7.75, 2), "", spent))
        if rand() < 0.05:
            pid = chosen_projects[int(rand() * len(chosen_projects))]
            spent = user.created_at + int(rand() * (end - user.created_at))
            state.expenses[uid] = [Expense(state.next_id("expense"), uid, pid, format_date(spent),
                                           round(5 + rand() * 495, 2), "", spent)]
        for rates in (state.billable_rates.get(uid), state.cost_rates.get(uid)):
            if rates and len(rates) > 1:
                rates.sort(key=rate_sort_key)

    for token, uid in zip(tokens, owners, strict=True):
        state.access_tokens[token] = AccessToken(token, uid, "pat", "all", None)
    state.index_work()
    return state


def _ascii_keep_space(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
