"""``thresher serve``: one always-on process with the SCIM bridge, the MCP server, the status API,
the dashboard, metrics (and OpenTelemetry export when configured) and the scheduled background
work (syncs, token refresh), ready for more components.

    from thresher.serve import Service, load_settings, run
    from thresher.store import Store

    settings = load_settings("thresher.toml")          # + environment, validated
    service = Service(settings, Store.open(settings.database_url))
    service.app                                        # the ASGI app (tests drive it in-process)

Routes: ``/healthz``, ``/readyz``, ``/metrics``, ``/api/v1/...`` (admin bearer tokens),
``/scim/v2/...`` (SCIM bearer tokens), ``/mcp`` (MCP bearer tokens), the dashboard at ``/``
(admin sign-in), and the mounts of components that plug in (``Component``; the webhook
dispatcher is found by name, see ``_components.py``). docs/serve.md has the configuration and
deployment.
"""

from ._app import Service
from ._auth import AdminAuth
from ._components import Component, Health
from ._errors import AdminError, ServeConfigError, ServeError
from ._metrics import Metrics
from ._observe import configure_logging
from ._run import run
from ._settings import CONFIG_ENV, ServeSettings, load_settings

__all__ = [
    "CONFIG_ENV",
    "AdminAuth",
    "AdminError",
    "Component",
    "Health",
    "Metrics",
    "ServeConfigError",
    "ServeError",
    "ServeSettings",
    "Service",
    "configure_logging",
    "load_settings",
    "run",
]

# Tracebacks name the public path (``thresher.serve.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
