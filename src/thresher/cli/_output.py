"""Lists for people and for pipes: ``--format table|plain|json|jsonl``.

- ``table`` (the default on a terminal): Rich, sized so that columns marked ``whole`` (emails, ids)
  are never cut or wrapped; the others (names, roles) wrap to make room.
- ``plain`` (the default when stdout is not a terminal): a header line, then one tab-separated
  line per record, nothing else, so ``cut -f3`` and ``awk -F'\\t'`` work.
- ``json``: one document (``--json`` is its short form); ``jsonl``: one record per line.

The record shapes are those of ``_json`` (docs/cli-json.md).
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import typer

from ._console import escape, out, print_json

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Column", "OutputFormat", "choose_format", "print_jsonl", "print_records", "records_table"]

T = TypeVar("T")

#: What wrappable columns keep at least when space is short (enough for a short word).
_MIN_WRAPPED = 8


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    PLAIN = "plain"
    JSON = "json"
    JSONL = "jsonl"


def choose_format(fmt: OutputFormat | None, json_out: bool = False) -> OutputFormat:
    """``--format`` as given, ``--json`` as ``--format json``; else table on a terminal, plain
    when stdout is a pipe or a file."""
    if json_out:
        if fmt not in (None, OutputFormat.JSON):
            raise typer.BadParameter(f"--json contradicts --format {fmt.value}", param_hint="'--json'")
        return OutputFormat.JSON
    if fmt is not None:
        return fmt
    return OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.PLAIN


@dataclass(frozen=True)
class Column(Generic[T]):
    header: str
    cell: Callable[[T], str]
    #: Never wrapped or cut (emails, ids): the other columns make room.
    whole: bool = False


def print_jsonl(records: Sequence[Any]) -> None:
    """JSON Lines: one compact JSON document per line."""
    for record in records:
        sys.stdout.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _plain_cell(value: str) -> str:
    # A tab or newline inside a value would shift every later column.
    return " ".join(value.split()) if any(c in value for c in "\t\r\n") else value


def _fit(natural: list[int], whole: list[bool], room: int) -> list[int | None]:
    """The widest each wrappable column may be so the row fits ``room`` cells (None: no limit).

    The whole columns keep their natural width; the wrappable ones share what is left, the
    narrow ones untouched and the wide ones capped at one level (water-filling).
    """
    if sum(natural) <= room:
        return [None] * len(natural)
    flexible = sorted(n for n, w in zip(natural, whole, strict=True) if not w)
    budget = room - sum(n for n, w in zip(natural, whole, strict=True) if w)
    level = _MIN_WRAPPED
    remaining = budget
    for i, width in enumerate(flexible):
        share = remaining // (len(flexible) - i)
        if width > share:
            level = max(share, _MIN_WRAPPED)
            break
        remaining -= width
    else:
        return [None] * len(natural)
    return [None if w else min(n, level) for n, w in zip(natural, whole, strict=True)]


def records_table(
    items: Sequence[T], columns: Sequence[Column[T]], *, title: str | None = None,
    width: int | None = None,
) -> Table:
    """A Rich table whose ``whole`` columns are as wide as their widest value.

    When even those do not fit ``width`` (default: the console's), the table is as wide as it
    must be (``table.width``): print it with ``crop=False`` and the terminal folds its lines,
    rather than Rich cutting an email.
    """
    from rich.cells import cell_len  # noqa: PLC0415 - Rich loads when printing (cli/_console.py)
    from rich.table import Table  # noqa: PLC0415

    rows = [[c.cell(item) for c in columns] for item in items]
    natural = [
        max([cell_len(c.header), *(max((cell_len(part) for part in row[i].split("\n")), default=0)
                                    for row in rows)])
        for i, c in enumerate(columns)
    ]
    # Borders: one per column plus one; padding: one cell each side of every column.
    overhead = (len(columns) + 1) + 2 * len(columns)
    limits = _fit(natural, [c.whole for c in columns], (width or out.width) - overhead)
    needed = overhead + sum(n if lim is None else lim for n, lim in zip(natural, limits, strict=True))
    table = Table(title=title, width=needed if needed > (width or out.width) else None)
    for column, size, limit in zip(columns, natural, limits, strict=True):
        if column.whole:
            table.add_column(column.header, no_wrap=True, min_width=size, overflow="fold")
        else:
            table.add_column(column.header, max_width=limit, overflow="fold")
    for row in rows:
        table.add_row(*(escape(v) for v in row))
    return table


def print_records(
    items: Sequence[T],
    columns: Sequence[Column[T]],
    fmt: OutputFormat,
    to_json: Callable[[T], Any],
    *,
    document: Any = None,
    title: str | None = None,
    summary: str | None = None,
) -> None:
    """Print a list in ``fmt``. ``document`` replaces the list for ``json`` (an object that holds
    it, say); ``summary`` follows a table (never plain output, which stays pure rows)."""
    if fmt is OutputFormat.JSON:
        print_json([to_json(i) for i in items] if document is None else document)
    elif fmt is OutputFormat.JSONL:
        print_jsonl([to_json(i) for i in items])
    elif fmt is OutputFormat.PLAIN:
        lines = ["\t".join(c.header for c in columns)]
        lines += ["\t".join(_plain_cell(c.cell(i)) for c in columns) for i in items]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    else:
        # crop=False: on a terminal too narrow even for the whole columns, the lines run on
        # rather than losing the end of an email.
        out.print(records_table(items, columns, title=title), crop=False)
        if summary:
            out.print(summary)
