"""The public surface of ``thresher.harvest``: public module paths, one convention for listings,
keyword-only filters, constructor keywords that a type checker can check, documented methods."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest

import thresher.harvest
from thresher.harvest import AsyncHarvest, Harvest, HarvestSettings

from .fakes import ACCOUNT, UA

DOCUMENTED = re.compile(r"``(GET|POST|PATCH|DELETE) (/v2/|\{id_url\}/api/v2/)")
LIFECYCLE = {"aclose", "close"}


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    return {name: member for name, member in inspect.getmembers(cls)
            if not name.startswith("_") and inspect.isfunction(member)}


def test_every_exported_class_and_function_names_the_public_module() -> None:
    exported = [getattr(thresher.harvest, name) for name in thresher.harvest.__all__]
    named = [obj for obj in exported if isinstance(obj, type) or inspect.isfunction(obj)]
    assert len(named) > 50
    assert [obj for obj in named if obj.__module__ != "thresher.harvest"] == []
    assert repr(thresher.harvest.NotFoundError) == "<class 'thresher.harvest.NotFoundError'>"


@pytest.mark.parametrize("cls", [AsyncHarvest, Harvest])
def test_every_public_method_is_documented_with_its_method_and_path(cls: type) -> None:
    methods = public_methods(cls)
    undocumented = sorted(name for name, method in methods.items() if not inspect.getdoc(method))
    assert undocumented == []
    unnamed = sorted(name for name, method in methods.items()
                     if name not in LIFECYCLE and not DOCUMENTED.search(inspect.getdoc(method) or ""))
    assert unnamed == []


def test_the_blocking_twins_share_the_async_docstrings() -> None:
    for name, method in public_methods(Harvest).items():
        if name not in LIFECYCLE:
            assert inspect.getdoc(method) == inspect.getdoc(getattr(AsyncHarvest, name)), name


def test_every_listing_is_an_async_iterator_and_every_single_answer_a_get() -> None:
    methods = public_methods(AsyncHarvest)
    listings = {name for name in methods if name.startswith("list_")}
    assert {"list_users", "list_teammates", "list_billable_rates", "list_cost_rates",
            "list_accounts", "list_roles"} <= listings
    assert [n for n in sorted(listings) if not inspect.isasyncgenfunction(methods[n])] == []
    getters = [name for name in methods if name.startswith("get_")]
    assert [n for n in getters if not inspect.iscoroutinefunction(methods[n])] == []


def test_optional_arguments_of_listings_and_pages_are_keyword_only() -> None:
    for name, method in public_methods(AsyncHarvest).items():
        if not (name.startswith("list_") or name.endswith("_pages")):
            continue
        parameters = list(inspect.signature(method).parameters.values())[1:]  # self
        positional = [p.name for p in parameters if p.kind is not p.KEYWORD_ONLY]
        # Only the ids that go into the path are positional, and they are required.
        assert all(p.endswith("_id") for p in positional), name
        assert all(p.default is p.empty for p in parameters if p.name in positional), name
        if name.endswith("_pages"):
            assert list(inspect.signature(method).parameters)[-2:] == ["per_page", "start_url"]


@pytest.mark.parametrize("cls", [AsyncHarvest, Harvest])
def test_constructors_spell_out_every_keyword(cls: type[AsyncHarvest] | type[Harvest]) -> None:
    parameters = inspect.signature(cls).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    settings_fields = {f.name for f in dataclasses.fields(HarvestSettings)}
    assert settings_fields <= set(parameters)
    with pytest.raises(TypeError, match="acces_token"):
        # The ignore is the static half of this test: mypy --strict (the gate) warns about an
        # unused ignore, so it fails the day a misspelt keyword stops being a type error.
        cls(acces_token="typo-0000000000", account_id=ACCOUNT, user_agent=UA)  # type: ignore[call-arg]


def test_both_constructors_take_the_same_keywords() -> None:
    def shape(cls: type[AsyncHarvest] | type[Harvest]) -> list[tuple[str, object, object]]:
        return [(p.name, p.kind, p.default)
                for p in inspect.signature(cls).parameters.values()]

    assert shape(Harvest) == shape(AsyncHarvest)
