"""The service's configuration: ``thresher.toml``, then the environment, then command-line flags.

    [serve]                       # or at the top level of the file
    host = "127.0.0.1"
    port = 8080

    [sync]                        # every connection, unless [connections.NAME] says otherwise
    interval = 60                 # seconds between incremental syncs
    reconcile_every = 3600        # seconds between full listings (they detect deletes)
    max_lag = 180                 # /readyz fails when the last good sync is older than this

    [connections.acme]
    interval = 30

Environment variables override the file: ``THRESHER_SERVE_PORT=9000``,
``THRESHER_SERVE_SYNC__INTERVAL=30`` (``__`` separates nested keys). Everything is validated when
the service starts; the first problem is reported in one sentence naming the key and where it
came from (:class:`ServeConfigError`, exit code 78). Unknown keys are errors, so a typo never
silently leaves a default in force.
"""

from __future__ import annotations

import contextvars
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ._errors import ServeConfigError

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "ConnectionSchedule",
    "DashboardSettings",
    "McpSettings",
    "OAuthSettings",
    "ScimSettings",
    "ServeSettings",
    "SyncSchedule",
    "TelemetrySettings",
    "load_settings",
]

#: The variable naming the configuration file when ``--config`` is not given.
CONFIG_ENV = "THRESHER_CONFIG"
ENV_PREFIX = "THRESHER_SERVE_"
DEFAULT_FILE = "thresher.toml"

_file_data: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("thresher_serve_file")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyncSchedule(_Section):
    """How often connections are synced (defaults for every connection)."""

    interval: float = Field(60.0, gt=0, description="Seconds between incremental syncs.")
    reconcile_every: float = Field(3600.0, gt=0, description="Seconds between full listings.")
    #: Oldest acceptable age of the last good sync for /readyz; None: 3 intervals + 60 s.
    max_lag: float | None = Field(None, gt=0)
    #: Seconds a run may stall before another process takes its lease over.
    lease_ttl: float = Field(30.0, gt=0)
    #: Refresh OAuth tokens this many seconds before they expire.
    refresh_ahead: float = Field(3600.0, ge=0)
    #: Seconds between looks at the OAuth tokens' expiry.
    refresh_check: float = Field(60.0, gt=0)


class ConnectionSchedule(_Section):
    """One connection's own schedule; unset values come from ``[sync]``."""

    enabled: bool = True
    interval: float | None = Field(None, gt=0)
    reconcile_every: float | None = Field(None, gt=0)
    max_lag: float | None = Field(None, gt=0)


class ScimSettings(_Section):
    enabled: bool = True
    #: The connection the bridge writes to; None: the default connection.
    connection: str | None = None
    delete_mode: Literal["archive", "delete"] = "archive"


class McpSettings(_Section):
    """The MCP server at /mcp (``thresher mcp token create`` makes its tokens)."""

    enabled: bool = True
    #: The connection it serves; None: the SCIM bridge's (the default connection).
    connection: str | None = None
    #: Only the read tools, whatever the token allows.
    read_only: bool = False
    #: Reads sync first when the mirror is older than this; None: the connection's max_lag.
    max_age: float | None = Field(None, gt=0)


class DashboardSettings(_Section):
    enabled: bool = True
    #: Hours a dashboard sign-in lasts.
    session_hours: float = Field(12.0, gt=0)
    #: ``auto``: Secure cookies whenever the request came over HTTPS (directly or, with
    #: --proxy-headers, through a proxy that said so).
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    #: A header a trusted reverse proxy sets to the signed-in admin's name (e.g. X-Forwarded-User);
    #: only honoured when the request comes from one of ``trusted_proxies``.
    admin_header: str | None = None
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])


class OAuthSettings(_Section):
    """The OAuth app the "connect a Harvest account" page uses (Harvest ID's developer page)."""

    client_id: str | None = None
    client_secret: str | None = Field(None, repr=False)
    #: Harvest ID; the sandbox's URL when trying it out.
    id_url: str = "https://id.getharvest.com"
    #: Where Harvest sends the browser back: this service's ``/connect/callback`` as seen from
    #: outside; None: built from the request.
    redirect_url: str | None = None
    user_agent: str = "thresher-serve (https://github.com/thresher/thresher)"
    #: The API of the accounts it connects (the sandbox's /v2 URL when trying it out).
    api_url: str = "https://api.harvestapp.com/v2"


class TelemetrySettings(_Section):
    #: OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318); None: no export at all.
    otlp_endpoint: str | None = None
    service_name: str = "thresher"


class ServeSettings(BaseSettings):
    """Everything ``thresher serve`` reads at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    #: None: ``THRESHER_DATABASE_URL``, else the default SQLite file.
    database_url: str | None = Field(None, repr=False)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Seconds SIGTERM waits for in-flight work before cancelling it.
    shutdown_timeout: float = Field(20.0, gt=0)
    #: Trust X-Forwarded-For/-Proto from ``dashboard.trusted_proxies`` (behind a TLS proxy).
    proxy_headers: bool = False
    #: False (``--no-background``): HTTP only; syncs, refreshes and applies are left to
    #: ``thresher worker`` processes on the same PostgreSQL store (docs/scale-out.md).
    background: bool = True
    sync: SyncSchedule = SyncSchedule()
    connections: dict[str, ConnectionSchedule] = Field(default_factory=dict)
    scim: ScimSettings = ScimSettings()
    mcp: McpSettings = McpSettings()
    dashboard: DashboardSettings = DashboardSettings()
    oauth: OAuthSettings = OAuthSettings()
    telemetry: TelemetrySettings = TelemetrySettings()

    @model_validator(mode="after")
    def _consistent(self) -> ServeSettings:
        if self.sync.reconcile_every < self.sync.interval:
            raise ValueError("sync.reconcile_every must be at least sync.interval")
        return self

    def schedule(self, connection: str) -> tuple[float, float, float]:
        """(interval, reconcile_every, max_lag) of a connection, its own values over ``[sync]``."""
        own = self.connections.get(connection, ConnectionSchedule())
        interval = own.interval or self.sync.interval
        reconcile = own.reconcile_every or self.sync.reconcile_every
        max_lag = own.max_lag or self.sync.max_lag or 3 * interval + 60
        return interval, max(reconcile, interval), max_lag

    def enabled(self, connection: str) -> bool:
        return self.connections.get(connection, ConnectionSchedule()).enabled

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (init), then the environment, then the file: docs/architecture.md's order.
        return (init_settings, env_settings, _FileSource(settings_cls))


class _FileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _file_data.get({}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_data.get({}))


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ServeConfigError(
            f"cannot read the configuration file {path}: {exc.strerror}",
            hint=f"Check the path given with --config or {CONFIG_ENV}.",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ServeConfigError(
            f"{path} is not valid TOML: {exc}", hint="Fix the line it names (https://toml.io)."
        ) from None
    # [serve] holds the top-level keys, so a file shared with other tools stays tidy.
    top = data.pop("serve", {})
    if not isinstance(top, dict):
        raise ServeConfigError(f"{path}: [serve] must be a table", hint="Write it as [serve].")
    return {**data, **top}


def _where(loc: tuple[int | str, ...], path: Path | None) -> tuple[str, str]:
    key = ".".join(str(part) for part in loc) or "(the file)"
    env = ENV_PREFIX + "__".join(str(part) for part in loc).upper()
    source = f"in {path} or {env}" if path is not None else f"in {env}"
    return key, source


def load_settings(
    path: str | Path | None = None, *, environ_file: str | None = None, **overrides: Any
) -> ServeSettings:
    """Read ``path`` (else ``$THRESHER_CONFIG``, else ``./thresher.toml`` if it exists), apply the
    environment and ``overrides`` (flags; None values are ignored), and validate everything.

    ``environ_file`` is the value of ``THRESHER_CONFIG`` (passed in, so there is no global
    state here). :class:`ServeConfigError` names the first wrong key and how to fix it."""
    chosen: Path | None = None
    if path is not None:
        chosen = Path(path)
    elif environ_file:
        chosen = Path(environ_file)
    elif Path(DEFAULT_FILE).is_file():
        chosen = Path(DEFAULT_FILE)
    data = _read_file(chosen) if chosen is not None else {}
    token = _file_data.set(data)
    try:
        return ServeSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        key, source = _where(tuple(first.get("loc", ())), chosen)
        message = first.get("msg", "invalid value")
        if first.get("type") == "extra_forbidden":
            message = "unknown setting"
        raise ServeConfigError(
            f"configuration {key}: {message}",
            hint=f"Fix {key} {source}; docs/serve.md lists every setting.",
        ) from None
    finally:
        _file_data.reset(token)
