"""Exit codes through the real entry point: usage errors exit 2 naming what was wrong, never as an
"Unexpected error"; a declined prompt exits 1 with "Aborted."; --version answers.

typer vendors its own click, so errors are matched through typer's exception types
(``src/thresher/cli/_main.py``); these tests fail if an upgrade changes what typer raises.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from thresher.cli import main
from thresher.store import Store


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code: int = 0
    try:
        main(argv)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["user", "list"], "No such command 'user'. Did you mean 'users'"),  # click may list 'serve' too
        (["--version-typo"], "No such option: --version-typo"),
        (["users", "create", "--email", "ada@example.com"], "Missing option '--first-name'"),
        (["sync", "--page-size", "0"], "Invalid value for '--page-size'"),
        (["users", "list", "--active", "--bogus"], "No such option: --bogus"),
        (["sync", "extra-argument"], "Got unexpected extra argument"),
    ],
)
def test_usage_errors_exit_2_and_name_the_problem(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert says in err
    assert "Unexpected error" not in err
    assert "Traceback" not in err


def test_no_arguments_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([], capsys)
    assert code == 2
    assert "Usage: thresher" in out + err
    assert "Unexpected error" not in out + err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.startswith("thresher ")


def test_a_declined_prompt_exits_1_with_aborted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setattr("sys.stdin", _Answer("n\n"))
    # 'db upgrade' needs no Harvest; 'connections remove' asks before deleting a connection's data.
    assert run(["db", "upgrade", "--database-url", database], capsys)[0] == 0
    from thresher.store import Store

    with Store.open(database) as store:
        store.add_connection("acme", 1)
    code, _, err = run(["connections", "remove", "acme", "--database-url", database], capsys)
    assert code == 1
    assert "Aborted." in err
    assert "Unexpected error" not in err
    with Store.open(database) as store:
        assert store.get_connection_or_none("acme") is not None  # nothing was deleted


class _Answer:
    """A stdin that answers a prompt (and reports itself as interactive)."""

    def __init__(self, text: str) -> None:
        import io

        self._buffer = io.StringIO(text)

    def readline(self, *args: object) -> str:
        return self._buffer.readline()

    def read(self, *args: object) -> str:
        return self._buffer.read()

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("not a real file")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["users", "update", "ada@example.com"], "nothing to change"),
        (["rates", "set", "ada@example.com"], "give --billable, --cost or both"),
        (["rates", "set", "ada@example.com", "--billable", "lots"], "--billable 'lots' is not a number"),
        (["rates", "set", "ada@example.com", "--cost", "-5"], "--cost must be a number >= 0"),
        (["changes", "--since", "last tuesday"], "--since 'last tuesday' is not a date"),
        (["webhooks", "replay", "1", "--from", "soon"], "--from 'soon' is not a date"),
    ],
    ids=["nothing-to-change", "no-rate", "rate-not-a-number", "negative-rate", "since", "webhooks-from"],
)
def test_thresher_s_own_usage_errors_exit_2_too(
    argv: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Checks the command line makes beyond click's exit 2 like click's, before any request."""
    database = tmp_path / "store.db"
    monkeypatch.setenv("THRESHER_DATABASE_URL", f"sqlite:///{database}")
    with Store.open(f"sqlite:///{database}") as store:
        store.add_connection("acme", 1, is_default=True)
    code, _, err = run(argv, capsys)
    assert code == 2, err
    assert says in err
    assert "Unexpected error" not in err
