"""A ``python -m thresher ...`` subprocess as the tests run one (``serve``, ``worker``): its output
read line by line in a thread, stopped with SIGTERM as operators stop it, and a poll helper that
waits for conditions with generous timeouts, never for a time.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], *, timeout: float = 60.0, what: str = "a condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


@dataclasses.dataclass
class ThresherProcess:
    """A running ``thresher`` command; ``lines`` fills as it prints (stdout and stderr)."""

    process: subprocess.Popen[str]
    lines: list[str]
    reader: threading.Thread

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then its exit code; killed if it has not ended within ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(30)
            self.reader.join(30)
            if self.process.stdout is not None:
                self.process.stdout.close()


def start_thresher(
    *args: str,
    env: dict[str, str],
    columns: int,
    cwd: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> ThresherProcess:
    """``python -m thresher ARGS`` with ``env`` over this process's environment, unbuffered;
    ``on_line`` sees each line as it is read."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": str(columns), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "thresher", *args],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
    )
    lines: list[str] = []

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return ThresherProcess(process, lines, reader)
