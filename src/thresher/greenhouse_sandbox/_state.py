"""The Greenhouse sandbox's data: users, roles, job permissions, credentials and tokens, and the
deterministic generator that seeds them (same seed, same users, ids and credentials).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import time
from typing import Any

from thresher.greenhouse import ALL_SCOPES, READ_SCOPES

__all__ = [
    "Credential",
    "FuturePermission",
    "GreenhouseState",
    "JobPermission",
    "Role",
    "Token",
    "User",
    "seed_state",
]

#: 2024-01-01T00:00:00Z: seeded records are dated from here, never from "now" (reproducible).
_EPOCH = 1_704_067_200
_FIRST = (
    "Ada",
    "Basil",
    "Chiara",
    "Dmitri",
    "Esi",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Luis",
    "Mei",
    "Nils",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
)
_LAST = (
    "Adeyemi",
    "Berg",
    "Costa",
    "Dubois",
    "Eze",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Rossi",
    "Silva",
)
_TITLES = ("Recruiter", "Sourcer", "Hiring Manager", "Coordinator", "Engineer", "Designer", None)


@dataclasses.dataclass
class User:
    id: int
    first_name: str
    last_name: str
    primary_email: str | None
    emails: list[str]
    created_at: int
    updated_at: int
    deactivated: bool = False
    site_admin: bool = False
    service_account: bool = False
    job_title: str | None = None
    employee_id: str | None = None
    office_ids: list[int] = dataclasses.field(default_factory=list)
    department_ids: list[int] = dataclasses.field(default_factory=list)

    def render(self) -> dict[str, Any]:
        """The v3 user object (docs/greenhouse.md §2)."""
        return {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "name": f"{self.first_name} {self.last_name}".strip(),
            "job_title": self.job_title,
            "primary_email": self.primary_email,
            "emails": list(self.emails),
            "deactivated": self.deactivated,
            "site_admin": self.site_admin,
            "agency_id": None,
            "employee_id": self.employee_id,
            "linked_candidate_ids": [],
            "office_ids": list(self.office_ids),
            "department_ids": list(self.department_ids),
            "interviewer_tags": [],
            "custom_fields": {},
            "created_at": _ts(self.created_at),
            "updated_at": _ts(self.updated_at),
        }


@dataclasses.dataclass(frozen=True)
class Role:
    id: int
    name: str
    role_type: str

    def render(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class JobPermission:
    id: int
    user_id: int
    job_id: int
    role_id: int

    def render(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class FuturePermission:
    id: int
    user_id: int
    role_id: int
    department_id: int | None
    office_id: int | None

    def render(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Credential:
    """A Harvest V3 (OAuth) credential: client id, secret, scopes; revoked ones mint nothing and
    their tokens stop working."""

    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    scopes: set[str]
    name: str
    revoked: bool = False

    def render(self, *, with_secret: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "client_id": self.client_id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "revoked": self.revoked,
        }
        if with_secret:
            out["client_secret"] = self.client_secret
        return out


@dataclasses.dataclass(frozen=True)
class Token:
    client_id: str
    sub: int
    expires_at: float


@dataclasses.dataclass
class GreenhouseState:
    users: dict[int, User]
    roles: dict[int, Role]
    job_permissions: dict[int, JobPermission]
    future_permissions: dict[int, FuturePermission]
    credentials: dict[str, Credential]
    #: Tokens by their SHA-256: a state dump never shows one.
    tokens: dict[str, Token] = dataclasses.field(default_factory=dict)
    outbox: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    next_id: int = 0
    admin_id: int = 0
    basic_id: int = 0
    service_id: int = 0
    control_token: str = ""

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def email_taken(self, email: str) -> bool:
        wanted = email.strip().lower()
        return any(wanted in (e.lower() for e in u.emails) for u in self.users.values())


def token_key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _ts(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _secret(rng: random.Random, size: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))


def seed_state(users: int, seed: int) -> GreenhouseState:
    """``users`` people (a Site Admin first, then a Basic user, then a mix), the credential's
    Integration Service User, three roles, some job permissions, a full and a read-only
    credential, all drawn from ``random.Random(seed)``."""
    rng = random.Random(seed)
    roles = {
        1: Role(1, "Job Admin: Standard", "job_admin"),
        2: Role(2, "Interviewer", "deprecated_interviewer"),
        3: Role(3, "Site Admin", "site_admin"),
    }
    state = GreenhouseState({}, roles, {}, {}, {}, next_id=4_100_000 + rng.randrange(1000) * 1000)
    for i in range(users):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        uid = state.new_id()
        email = f"{first.lower()}.{last.lower()}.{uid}@example.com"
        created = _EPOCH + i * 3600 + rng.randrange(3600)
        user = User(
            uid,
            first,
            last,
            email,
            [email],
            created,
            created + rng.randrange(86_400 * 30),
            deactivated=i > 2 and rng.random() < 0.1,
            site_admin=i == 0 or (i > 2 and rng.random() < 0.08),
            job_title=rng.choice(_TITLES),
            employee_id=f"E{1000 + i}" if rng.random() < 0.7 else None,
            office_ids=[rng.choice((101, 102, 103))] if rng.random() < 0.8 else [],
            department_ids=[rng.choice((201, 202, 203, 204))] if rng.random() < 0.8 else [],
        )
        state.users[uid] = user
        if i == 0:
            state.admin_id = uid
        elif i == 1:
            state.basic_id = uid
        elif rng.random() < 0.3:
            pid = state.new_id()
            state.job_permissions[pid] = JobPermission(pid, uid, 300 + rng.randrange(20), rng.choice((1, 2)))
    sid = state.new_id()
    state.users[sid] = User(
        sid, "Integration Service", "User", None, [], _EPOCH, _EPOCH, site_admin=True, service_account=True
    )
    state.service_id = sid
    # From their own sequence: the same seed gives the same credentials whatever the size.
    keys = random.Random(f"credentials-{seed}")
    for name, scopes in (("full", ALL_SCOPES), ("read-only", READ_SCOPES)):
        client_id = f"ghsbx-{name}-{_secret(keys, 12)}"
        state.credentials[client_id] = Credential(client_id, _secret(keys, 40), set(scopes), name)
    state.control_token = "ghctl-" + _secret(keys, 32)
    return state
