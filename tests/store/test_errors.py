"""Opening the store: URL resolution and errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from thresher._errors import ThresherError
from thresher.store import (
    DatabaseUnavailableError,
    MigrationError,
    Store,
    StoreError,
    UnknownConnectionError,
    default_database_url,
)
from thresher.store._database import redact


def test_default_url_is_env_then_a_file_in_the_data_dir() -> None:
    assert default_database_url({"THRESHER_DATABASE_URL": "sqlite:////x/y.db"}) == "sqlite:////x/y.db"
    default = default_database_url({})
    assert default.startswith("sqlite:///")
    assert default.endswith("/thresher.db")
    assert "thresher" in Path(default.removeprefix("sqlite:///")).parent.name.lower()


def test_open_uses_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    with Store.open(environ={"THRESHER_DATABASE_URL": url}) as store:
        assert store.url == url
        assert store.dialect == "sqlite"
    assert (tmp_path / "from-env.db").is_file()


def test_the_default_file_and_its_folder_are_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("THRESHER_DATABASE_URL", raising=False)
    with Store.open() as store:
        assert store.url.endswith("/thresher.db")
        assert store.list_connections() == []
    assert list((tmp_path / "data").rglob("thresher.db"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("sqlite:////nonexistent-folder-thresher/x.db", "does not exist"),
    ],
)
def test_unusable_urls(url: str, message: str) -> None:
    with pytest.raises(DatabaseUnavailableError, match=message) as info:
        Store.open(url)
    assert info.value.hint is not None
    assert "THRESHER_DATABASE_URL" in info.value.hint


def test_an_unreachable_server() -> None:
    with pytest.raises(DatabaseUnavailableError, match="cannot use the database") as info:
        Store.open("postgresql://thresher:secret@127.0.0.1:1/thresher?connect_timeout=2")
    assert "secret" not in str(info.value)
    assert info.value.hint is not None
    assert "THRESHER_DATABASE_URL" in info.value.hint


def test_passwords_are_redacted() -> None:
    assert redact("postgresql+psycopg://u:hunter2@db/x") == "postgresql+psycopg://u:***@db/x"


def test_every_error_is_a_thresher_error_with_a_hint() -> None:
    for cls in (DatabaseUnavailableError, MigrationError, UnknownConnectionError):
        assert issubclass(cls, StoreError)
        assert issubclass(cls, ThresherError)
        assert cls("x").hint
