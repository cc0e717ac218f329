"""`bench/store_upsert.py` runs and ends with one line of JSON (docs/architecture.md: benchmarks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "store_upsert.py"


def test_the_benchmark_prints_a_summary_then_json() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--users", "300"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "first upsert of 300 users" in result.stdout
    figures = json.loads(lines[-1])
    assert figures["benchmark"] == "store_upsert"
    assert (figures["users"], figures["created_events"], figures["reread_events"]) == (300, 300, 0)
    assert figures["updated_events"] == 300
