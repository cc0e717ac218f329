"""A local Harvest: the API v2 and identity service on 127.0.0.1, with seeded data and knobs.

It follows ``docs/harvest-api.md`` for everything user-related: headers and errors
in each of Harvest's shapes, cursor and page pagination, permissions by access role, the rules of
users, teammates, rates, roles and project assignments, the rate limit, and the OAuth endpoints.
Around them it serves what user-lifecycle tools read, shaped as the community OpenAPI file in
``tests/sandbox/data`` describes Harvest's docs: clients, projects, tasks, a project's task
assignments, time entries (with timers), expenses and the team time report (with the Reports
API's own rate limit, §4). The seeded time lies on projects its users are assigned to.

Where production clients written by others expect it (§5.2, §10): a used refresh token stays
valid (``rotate_refresh_tokens`` makes them single use); a GET or HEAD with a body is a 400 before
routing; a JSON body that is not an object is read as Rails reads it; numbers out of range are
422s and never stored; bodies over ``max_body_bytes`` are 413s before authentication; the outbox
keeps the newest ``outbox_size`` invitations and counts the rest.
Creates never send mail: invitations land in an outbox. Tests use it in-process
(``httpx.ASGITransport(app=Sandbox(config).app)``) or over real HTTP::

    from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox

    sandbox = Sandbox(SandboxConfig(users=200, seed=7, rate_limit="100/1.5s"))
    with run_sandbox(sandbox) as running:          # uvicorn on a free port
        running.api_url                            # HARVEST_BASE_URL, e.g. http://127.0.0.1:PORT/v2
        running.id_url                             # HARVEST_ID_URL (the same origin)
        sandbox.credentials.admin_token            # also manager_token, member_token, OAuth client

From a shell: ``thresher sandbox serve --users 200`` (see ``--help``). ``fidelity_report()`` (and
``thresher sandbox fidelity``) lists every documented behaviour implemented, its source and its
tests, and the known deviations (docs/sandbox-fidelity.md); ``MultiSandbox`` serves many
independent accounts on one port (``--accounts N --users-per-account M``), routed by
``Harvest-Account-Id``.

Routes on one port: the API under ``/v2`` (``/api/v2`` is an alias, §1); the identity service at
``/api/v2/accounts``, ``/oauth2/authorize`` and ``/api/v2/oauth2/token``; the retired v1 People API
under ``/v1`` for old scripts (docs/migrating-from-v1.md); the control plane under
``/sandbox`` with ``Authorization: Bearer <control token>`` (reset, seed, snapshots, state, outbox,
request log, faults, clock, settings, projects, time entries; listed in ``GET /sandbox``).

Faults (``SandboxConfig.faults``, ``--faults``, ``PUT /sandbox/faults``, ``Sandbox.set_faults``):
a comma-separated spec, for example ``"500:0.05,502:0.02,503:0.02,drop:0.01,delay:0.1@200ms,
429burst:0.01x5,seed=7"``:

* ``NNN:P`` answers that share of requests with status NNN (500..599);
* ``drop:P`` closes the connection after the status line, before the body (unprocessed);
* ``lost:P`` processes the request, then drops the connection the same way (the answer is lost);
* ``429burst:PxN`` starts N consecutive 429s (with ``Retry-After``) with probability P;
* ``delay:P@DURATION`` delays that share of requests (``200ms``, ``1.5s``);
* ``seed=N`` seeds the sequence (default: the sandbox's seed).

Status, drop, lost and burst probabilities are exclusive (sum <= 1); the delay is independent.
Every API or identity request draws two numbers from the seeded generator in arrival order, so
request *n* meets the same fault on every run with the same spec; setting a spec restarts its
sequence.
Control-plane requests never draw.

Rate limit (``rate_limit="100/15s"``, ``rate_limit_scope``, ``rate_limit_window``, ``time_scale``):
a request counts when it arrives; the sliding window admits it when fewer than the limit arrived
in the preceding ``window`` seconds (half-open, so a client pacing exactly at the limit is never
refused); refused requests do not count; 429 always carries ``Retry-After`` in whole seconds.
"""

from ._config import SandboxConfig
from ._errors import SandboxConfigError, SandboxError, SandboxServerError, SandboxStateError
from ._faults import FaultConfig, FaultDecision, FaultInjector
from ._fidelity import Behaviour, Deviation, FidelityReport, fidelity_report
from ._host import SandboxCredentials, SandboxSnapshot
from ._multi import MultiSandbox, RunningMultiSandbox, run_multi_sandbox
from ._sandbox import Sandbox
from ._server import RunningSandbox, run_sandbox
from ._state import SandboxState

__all__ = [
    "Behaviour",
    "Deviation",
    "FaultConfig",
    "FaultDecision",
    "FaultInjector",
    "FidelityReport",
    "MultiSandbox",
    "RunningMultiSandbox",
    "RunningSandbox",
    "Sandbox",
    "SandboxConfig",
    "SandboxConfigError",
    "SandboxCredentials",
    "SandboxError",
    "SandboxServerError",
    "SandboxSnapshot",
    "SandboxState",
    "SandboxStateError",
    "fidelity_report",
    "run_multi_sandbox",
    "run_sandbox",
]

# Tracebacks name the public path (``thresher.sandbox.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
