"""SCIM filters over the mirror: which filters the bridge accepts, and the index lookups that
find every resource a filter can match.

A filter naming an attribute the bridge does not keep is refused with ``invalidFilter`` rather
than answered with an empty list (docs/scim-idps.md §1: that makes IdPs duplicate). The
candidates an index finds are then decided by scim2-models' own matcher, so answers are exact.
"""

from __future__ import annotations

from typing import Any

from scim2_models import InvalidFilterException, SCIMException, ScimFilter
from scim2_models.path.expressions import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

__all__ = ["IndexLookup", "check_filter", "index_lookups"]

#: An index lookup: ``(kind, value)``; kinds are id, userName, externalId, email (users) and id,
#: displayName, member (groups).
IndexLookup = tuple[str, str]


def check_filter(scim_filter: ScimFilter[Any], user: bool) -> None:
    """Refuse a filter on an attribute the bridge does not keep: an empty answer would be a lie."""
    def walk(node: FilterNode, parent: str | None) -> None:
        if isinstance(node, Comparison | Present):
            path = node.attr_path
            if parent is not None:
                path = AttrPath(attr=parent, sub_attr=path.attr, uri=None)
            try:
                binding = scim_filter.resolve_comparison(path, strict=True)
            except SCIMException:
                binding = None
            if binding is None:
                raise InvalidFilterException(
                    detail=f"the bridge cannot filter on {str(_path_text(path))!r}"
                )
        elif isinstance(node, Not):
            walk(node.expr, parent)
        elif isinstance(node, LogicalExpr):
            for term in node.terms:
                walk(term, parent)
        elif isinstance(node, ValuePath):
            walk(node.val_filter, node.attr_path.attr)
        else:  # pragma: no cover - the grammar has no other node
            raise InvalidFilterException(detail="unsupported filter")

    walk(scim_filter.ast, None)


def _path_text(path: AttrPath) -> str:
    text = f"{path.uri}:{path.attr}" if path.uri else path.attr
    return f"{text}.{path.sub_attr}" if path.sub_attr else text


def index_lookups(node: FilterNode, *, user: bool) -> list[IndexLookup] | None:
    """Index lookups that find every resource the filter can match (None: scan them all)."""
    if isinstance(node, LogicalExpr):
        if node.op == LogicalOperator.and_:
            for term in node.terms:
                found = index_lookups(term, user=user)
                if found is not None:
                    return found
            return None
        union: list[IndexLookup] = []
        for term in node.terms:
            found = index_lookups(term, user=user)
            if found is None:
                return None
            union += found
        return union
    if isinstance(node, ValuePath):
        attr = node.attr_path.attr.lower()
        inner = _candidates_inner(node.val_filter)
        if inner is None:
            return None
        if user and attr == "emails":
            return [("email", inner)]
        if not user and attr == "members":
            return [("member", inner)]
        return None
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq:
        return None
    if not isinstance(node.value, str):
        return None
    attr = node.attr_path.attr.lower()
    sub = (node.attr_path.sub_attr or "").lower()
    if attr == "id":
        return [("id", node.value)]
    if user:
        if attr == "username":
            return [("userName", node.value)]
        if attr == "externalid":
            return [("externalId", node.value)]
        if attr == "emails" and sub in ("", "value") and _searchable(node.value):
            return [("email", node.value)]
        return None
    if attr == "displayname":
        return [("displayName", node.value)]
    if attr == "members" and sub in ("", "value"):
        return [("member", node.value)]
    return None


def _candidates_inner(node: FilterNode) -> str | None:
    """The ``value eq "x"`` inside ``emails[...]`` or ``members[...]``, if it must hold."""
    if isinstance(node, Comparison):
        if (
            node.op == CompareOperator.eq
            and node.attr_path.attr.lower() == "value"
            and isinstance(node.value, str)
            and _searchable(node.value)
        ):
            return node.value
        return None
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_:
        for term in node.terms:
            found = _candidates_inner(term)
            if found is not None:
                return found
    return None


def _searchable(value: str) -> bool:
    # The stored emails are searched as JSON text: only characters JSON writes as themselves.
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value
