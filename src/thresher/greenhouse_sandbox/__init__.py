"""A local Greenhouse Recruiting "Harvest" API v3 (user endpoints) for tests and integration work.

Not the Harvest time-tracking sandbox (``thresher.sandbox``): a different product with the same
name (docs/greenhouse.md). One port serves the token endpoint (``POST /token``, as
auth.greenhouse.io) and the v3 user endpoints (``/v3/...``, as harvest.greenhouse.io)::

    from thresher.greenhouse_sandbox import GreenhouseSandbox, GreenhouseSandboxConfig, run_greenhouse_sandbox

    sandbox = GreenhouseSandbox(GreenhouseSandboxConfig(users=200, seed=7, rate_limit="75/30s"))
    with run_greenhouse_sandbox(sandbox) as running:
        running.api_url, running.token_url          # GREENHOUSE_BASE_URL, GREENHOUSE_TOKEN_URL
        sandbox.credential("full").client_id        # every scope; "read-only": the list scopes
        sandbox.state.admin_id                      # a Site Admin to act as (sub)

From a shell: ``thresher sandbox serve --provider greenhouse``. Seeded users (deterministic per
seed), credentials with scopes (a missing scope is a 403), the Site Admin rule for ``sub``, cursor
pages with ``Link: rel="next"``, idempotent activate/deactivate (204), fixed rate windows per
credential with ``X-RateLimit-*`` and 429 ``Retry-After``, tokens that expire with the sandbox
clock, revocable credentials, the Harvest sandbox's seeded faults spec, a request log and a
control plane under ``/sandbox`` (``_control.py``).
"""

from ._app import GreenhouseSandbox
from ._errors import GreenhouseSandboxError
from ._sandbox import GreenhouseSandboxConfig
from ._server import RunningGreenhouseSandbox, run_greenhouse_sandbox

__all__ = [
    "GreenhouseSandbox",
    "GreenhouseSandboxConfig",
    "GreenhouseSandboxError",
    "RunningGreenhouseSandbox",
    "run_greenhouse_sandbox",
]

for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
