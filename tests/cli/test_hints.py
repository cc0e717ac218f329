"""Hints at the command line name commands to run, never the Python calls the client's own hints
name (``thresher.harvest`` is a library first)."""

from __future__ import annotations

import re

from provision.conftest import Cli

#: A Python call in a hint, such as ``list_accounts()``.
_PYTHON_CALL = re.compile(r"\w\(\)")


def test_a_refused_token_names_the_commands_that_fix_it(cli: Cli) -> None:
    for argv in (["api", "GET", "/v2/users/me"], ["sync"]):
        refused = cli(*argv, env={"HARVEST_ACCESS_TOKEN": "1.pt.not-a-real-token"}, ok=False)
        assert refused.exit_code == 77, refused.stderr
        hint = refused.stderr.split("Hint: ", 1)[1]
        assert "'thresher accounts list'" in hint
        assert "'thresher login'" in hint
        assert not _PYTHON_CALL.search(refused.stderr), refused.stderr
        assert "not-a-real-token" not in refused.stdout + refused.stderr


def test_a_bad_account_id_names_accounts_list(cli: Cli) -> None:
    bad = cli("sync", env={"HARVEST_ACCOUNT_ID": "abc"}, ok=False)
    assert bad.exit_code == 78, bad.stderr
    assert "'thresher accounts list'" in bad.stderr
    assert not _PYTHON_CALL.search(bad.stderr), bad.stderr
