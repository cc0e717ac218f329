"""Start-up time of the command line: how long ``thresher --help`` and ``thresher users list
--help`` take, as a person or a shell completion waits for them.

Each command runs ``--runs`` times in a new process (``python -m thresher``, the same interpreter
and source tree as this script), timed from spawn to exit with ``time.perf_counter``; the median is
the figure, against the target of 0.3 s. The machine's load average is printed beside it: on a
shared machine, start-up time follows the load. Beside the wall time, each start's CPU time (user
+ system, from the child's rusage) is reported: it counts the work the start does, not the time
spent waiting for a core, so it moves far less with the load.

    python bench/cli_startup.py [--runs 10]

The last line is JSON with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.3
COMMANDS: dict[str, list[str]] = {
    "thresher --help": ["--help"],
    "thresher users list --help": ["users", "list", "--help"],
}
SRC = Path(__file__).resolve().parent.parent / "src"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env["COLUMNS"] = "100"
    return env


def _cpu_s() -> float:
    """User + system CPU seconds of every child this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(args: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``runs`` starts of ``thresher ARGS``."""
    env = _env()
    walls, cpus = [], []
    for _ in range(runs):
        cpu_before = _cpu_s()
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "thresher", *args], env=env, capture_output=True, check=False
        )
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu_s() - cpu_before)
        if done.returncode != 0:
            raise SystemExit(f"thresher {' '.join(args)} failed:\n{done.stderr.decode()}")
    return walls, cpus


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="Runs per command (default 10).")
    options = parser.parse_args()

    _time(["--help"], 1)  # warm the file cache and the bytecode, as a second run would find them
    load_before = _load()
    figures: dict[str, dict[str, float]] = {}
    for name, args in COMMANDS.items():
        times, cpus = _time(args, options.runs)
        figures[name] = {
            "median_s": round(statistics.median(times), 3),
            "min_s": round(min(times), 3),
            "max_s": round(max(times), 3),
            "cpu_median_s": round(statistics.median(cpus), 3),
            "cpu_min_s": round(min(cpus), 3),
        }
    load_after = _load()

    print(f"CLI start-up, median of {options.runs} runs each (target: {TARGET_S} s):")
    for name, figure in figures.items():
        verdict = "ok" if figure["median_s"] <= TARGET_S else "OVER TARGET"
        print(
            f"  {name:<28} {figure['median_s']:.3f} s  (min {figure['min_s']:.3f}, "
            f"max {figure['max_s']:.3f}); CPU {figure['cpu_median_s']:.3f} s  {verdict}"
        )
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"  machine: {machine}; load average before {load_before}, after {load_after}")
    result = {
        "benchmark": "cli_startup",
        "runs": options.runs,
        "target_s": TARGET_S,
        "commands": figures,
        "within_target": all(f["median_s"] <= TARGET_S for f in figures.values()),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "machine": machine,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
