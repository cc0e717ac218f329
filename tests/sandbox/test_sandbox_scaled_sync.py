"""thresher pointed at a time-scaled sandbox: ``thresher sync`` with ``HARVEST_RATE_LIMIT=100/1.5s``
against a sandbox limited to 100 requests per 1.5 s (``sandbox serve --rate-limit 100/1.5s``) runs
at that pace, judged by counting the requests in the sandbox's log, never by a stopwatch: the sync
sends several windows' worth of requests, the sandbox refuses none of them (thresher keeps to
100 per 1.5 s), and some 15 seconds of the log hold more than 100 (so thresher did not keep to
Harvest's 100 per 15 s, which a sync without the variable does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox

RATE = "100/1.5s"
#: With pages of one user, the listing alone takes three windows.
USERS = 300


def _busiest_15_seconds(stamps: list[str]) -> int:
    """The most requests logged within any 15 seconds (the log's times are whole seconds)."""
    seconds = sorted(int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19]) for s in stamps)
    best, start = 0, 0
    for end, second in enumerate(seconds):
        while second - seconds[start] > 14:
            start += 1
        best = max(best, end - start + 1)
    return best


# The sync's own bound (600 s below), not the suite's 120 s: some 300 paced requests from a CLI
# process take minutes on a loaded 2-core machine.
@pytest.mark.timeout(600)
def test_sync_paces_at_the_limit_harvest_rate_limit_names(tmp_path: Path) -> None:
    config = SandboxConfig(users=USERS, seed=31, rate_limit=RATE, request_log_size=100_000)
    with run_sandbox(Sandbox(config)) as running:
        creds = running.sandbox.credentials
        env = {
            **os.environ,
            "HARVEST_ACCESS_TOKEN": creds.admin_token,
            "HARVEST_ACCOUNT_ID": str(creds.account_id),
            "HARVEST_USER_AGENT": "thresher-tests (tests@example.com)",
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "HARVEST_RATE_LIMIT": RATE,
            "THRESHER_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
            "THRESHER_SECRET_KEY": "test-secret-key-for-the-scaled-sync",
        }
        result = subprocess.run(
            [sys.executable, "-m", "thresher", "sync", "--page-size", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        with running.sandbox.lock:
            log = [r for r in running.sandbox.state.request_log if r.path.startswith("/v2/")]
    statuses = [r.status for r in log]
    assert len(log) > 250, f"only {len(log)} requests: not several windows' worth"
    assert 429 not in statuses, f"{statuses.count(429)} of {len(log)} requests were refused"
    assert _busiest_15_seconds([r.at for r in log]) > 100, len(log)
