"""The Dockerfile and compose.yaml, read as a reviewer would: non-root, slim, health-checked, and
a compose file whose service runs thresher on PostgreSQL with the secret key required."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_image_is_slim_runs_as_a_user_and_checks_its_health() -> None:
    steps = _instructions()
    froms = [rest for word, rest in steps if word == "FROM"]
    assert froms
    assert all("slim" in f for f in froms)
    users = [rest for word, rest in steps if word == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    (health,) = [rest for word, rest in steps if word == "HEALTHCHECK"]
    assert "/healthz" in health
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert "THRESHER_SERVE_HOST=0.0.0.0" in env  # inside a container; compose publishes loopback
    assert ("ENTRYPOINT", '["thresher"]') in steps
    assert ("CMD", '["serve"]') in steps


def test_compose_runs_thresher_on_postgres() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"thresher", "postgres"}
    app = services["thresher"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["environment"]["THRESHER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert ":?" in app["environment"]["THRESHER_SECRET_KEY"]  # required, never defaulted
    assert all(p.startswith("127.0.0.1:") for p in app["ports"])
    assert "healthcheck" in services["postgres"]
