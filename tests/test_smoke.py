from __future__ import annotations

import subprocess
import sys


def test_cli_help_names_an_example() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from thresher.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "Example: thresher demo" in result.stdout
