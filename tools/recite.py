"""Rewrite citations of documents outside the repository to the repository's own docs.

Comments in ``src/``, ``tests/`` and ``bench/`` once cited notes that never lived in the
repository. This script rewrites those citations in place (standard library only):

    harvest-api-v2.md [§N | gotcha N]   ->  docs/harvest-api.md [§N | gotcha N]  (same numbering)
    "the fact sheet" (the same notes)   ->  docs/harvest-api.md
    scim-idp-behaviour.md [§N]          ->  docs/scim-idps.md [§N]               (same numbering)
    design.md §N, design.md, (house) style N
                                        ->  docs/architecture.md, house style N
    design.md                           ->  docs/architecture.md

and reports, without changing them:

- every "issue N" / "Issue N" mention (the code must say the reason instead; a person removes
  them);
- every remaining path into the old reference folder (``shared/reference``) and other external
  notes;
- every citation whose section or gotcha does not exist in the target document (when ``docs/`` is
  present), and bare ``§N`` numbers found in neither ``docs/harvest-api.md`` nor
  ``docs/scim-idps.md`` and not preceded by an RFC number;
- every rewritten line now longer than the project's line length (ruff's 110), to re-wrap by hand.

A Python file whose rewrite would not compile is left unchanged and reported.

Usage::

    python tools/recite.py                 # rewrite src/ tests/ bench/ of this repository
    python tools/recite.py --dry-run       # show what would change, write nothing
    python tools/recite.py /tmp/src-copy   # rewrite other paths (files or folders)

Exit status: 0 when nothing is left for a person to do, 1 when something was reported. Running it
twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIRS = ("src", "tests", "bench")
SUFFIXES = {".py", ".pyi", ".md", ".txt", ".rst", ".toml", ".cfg", ".ini", ".yml", ".yaml"}
LINE_LENGTH = 110

HARVEST_DOC = "docs/harvest-api.md"
SCIM_DOC = "docs/scim-idps.md"
ARCH_DOC = "docs/architecture.md"

# A path prefix in front of an old document name (``reference/``, ``../shared/reference/``).
_PREFIX = r"(?<![\w.-])(?:[\w.-]+/)*"


# Order matters: the specific design.md forms come before the bare one, and "(the fact sheet)"
# right after a rewritten citation is dropped before "fact sheet" alone is rewritten.
def _keep_break(match: re.Match[str], replacement: str) -> str:
    """``replacement`` for a phrase that may run over a line break: the break stays, before it."""
    found = match.group(0)
    if "\n" not in found:
        return (found[: len(found) - len(found.lstrip(" \t"))]) + replacement
    indent: str = re.findall(r"\n([ \t]*)", found)[-1]
    return "\n" + indent + replacement


REWRITES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(_PREFIX + r"harvest-api-v2\.md"), HARVEST_DOC),
    (re.compile(_PREFIX + r"scim-idp-behaviour\.md"), SCIM_DOC),
    (
        re.compile(_PREFIX + r"design\.md(?:\s*§\s*|,\s*(?:house\s+)?style\s+)(\d+)", re.IGNORECASE),
        ARCH_DOC + r", house style \1",
    ),
    (re.compile(_PREFIX + r"design\.md"), ARCH_DOC),
    (re.compile(r"(" + re.escape(HARVEST_DOC) + r"(?:``)?)\s+\(the\s+fact\s+sheet\)"), r"\1"),
    (re.compile(r"[ \t]*\b(?:[Tt]he\s+)?fact(?:\s+|-)sheet\b"), lambda m: _keep_break(m, HARVEST_DOC)),
)

ISSUE = re.compile(r"\b[Ii]ssues?\s+#?\d+")
EXTERNAL = re.compile(
    r"shared/reference|(?<![\w.-])reference/|\b(?:peers|greenhouse-harvest|harvest-api-v1-people)\.md\b"
)
SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)")
GOTCHA = re.compile(r"\b[Gg]otcha\s+(\d+)")
RFC_BEFORE = re.compile(r"RFC\s*\d{3,5}[\s,]*(?:§[\d.]+[\s,and–-]*)*$")
EXPLICIT = re.compile(
    r"(docs/(?:harvest-api|scim-idps)\.md)(?:``)?[\s,]*((?:(?:§\s*[\d.]*\d|gotcha\s+\d+)[\s,and–-]*)+)"
)


@dataclasses.dataclass
class Finding:
    path: Path
    line: int
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.text.strip()}"


@dataclasses.dataclass
class Docs:
    """Section and gotcha numbers that exist in the repository's docs (empty when absent)."""

    harvest: set[str]
    gotchas: set[str]
    scim: set[str]

    @classmethod
    def load(cls, root: Path) -> Docs | None:
        harvest_path, scim_path = root / HARVEST_DOC, root / SCIM_DOC
        if not (harvest_path.exists() and scim_path.exists()):
            return None
        harvest_text = harvest_path.read_text(encoding="utf-8")
        gotchas = set(re.findall(r"^###\s+8\.(\d+)\s+Gotcha\s+\1\b", harvest_text, re.MULTILINE))
        return cls(
            harvest=_headings(harvest_text) | {f"8.{n}" for n in gotchas},
            gotchas=gotchas,
            scim=_headings(scim_path.read_text(encoding="utf-8")),
        )


def _headings(text: str) -> set[str]:
    return set(re.findall(r"^#{2,4}\s+(\d+(?:\.\d+)*)\.?\s", text, re.MULTILINE))


def files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            for found in sorted(path.rglob("*")):
                if (
                    found.is_file()
                    and found.suffix in SUFFIXES
                    and not any(part.startswith(".") or part == "__pycache__" for part in found.parts)
                ):
                    yield found


def rewrite(text: str) -> str:
    for pattern, replacement in REWRITES:
        text = pattern.sub(replacement, text)
    return text


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def line_text(text: str, number: int) -> str:
    return text.splitlines()[number - 1]


def check_citations(path: Path, text: str, docs: Docs) -> list[Finding]:
    found: list[Finding] = []
    explicit_spans: list[tuple[int, int]] = []
    for match in EXPLICIT.finditer(text):
        explicit_spans.append(match.span(2))
        doc, refs = match.group(1), match.group(2)
        known = docs.harvest if doc == HARVEST_DOC else docs.scim
        for section in SECTION.findall(refs):
            if section not in known:
                found.append(_finding(path, text, match.start(), "unknown section", f"{doc} §{section}"))
        for number in re.findall(r"gotcha\s+(\d+)", refs):
            if doc != HARVEST_DOC or number not in docs.gotchas:
                found.append(_finding(path, text, match.start(), "unknown gotcha", f"{doc} gotcha {number}"))
    for match in SECTION.finditer(text):
        if any(start <= match.start() < end for start, end in explicit_spans):
            continue
        before = text[max(0, match.start() - 40) : match.start()]
        section = match.group(1)
        if RFC_BEFORE.search(before) or section in docs.harvest or section in docs.scim:
            continue
        found.append(_finding(path, text, match.start(), "section in no doc (an RFC's?)", f"§{section}"))
    for match in GOTCHA.finditer(text):
        if any(start <= match.start() < end for start, end in explicit_spans):
            continue
        if match.group(1) not in docs.gotchas:
            found.append(_finding(path, text, match.start(), "unknown gotcha", match.group(0)))
    return found


def _finding(path: Path, text: str, offset: int, kind: str, what: str) -> Finding:
    number = line_of(text, offset)
    return Finding(path, number, kind, f"{what}  |  {line_text(text, number).strip()}")


def process(path: Path, docs: Docs | None, *, dry_run: bool) -> tuple[bool, list[Finding]]:
    try:
        original = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return False, []
    updated = rewrite(original)
    findings: list[Finding] = []
    changed = updated != original
    if changed and path.suffix in {".py", ".pyi"}:
        try:
            compile(updated, str(path), "exec")
        except SyntaxError as exc:
            findings.append(Finding(path, exc.lineno or 0, "NOT REWRITTEN, would not compile", str(exc)))
            updated, changed = original, False
    if changed:
        old_lines = original.splitlines()
        for number, line in enumerate(updated.splitlines(), 1):
            if len(line) > LINE_LENGTH and line not in old_lines:
                findings.append(Finding(path, number, f"now {len(line)} characters, re-wrap", line))
        diff = difflib.unified_diff(
            original.splitlines(keepends=True), updated.splitlines(keepends=True), str(path), str(path)
        )
        sys.stdout.writelines(diff)
        if not dry_run:
            path.write_text(updated, encoding="utf-8")
    for match in ISSUE.finditer(updated):
        number = line_of(updated, match.start())
        findings.append(Finding(path, number, f"'{match.group(0)}' in code", line_text(updated, number)))
    for match in EXTERNAL.finditer(updated):
        number = line_of(updated, match.start())
        text = line_text(updated, number)
        findings.append(Finding(path, number, "external reference (not rewritten)", text))
    if docs is not None:
        findings.extend(check_citations(path, updated, docs))
    return changed, findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: src tests bench)")
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (for docs/)")
    args = parser.parse_args(argv)
    paths = args.paths or [args.root / name for name in DEFAULT_DIRS]
    docs = Docs.load(args.root)
    if docs is None:
        print(f"note: {args.root / 'docs'} lacks the docs; section numbers are not checked", file=sys.stderr)
    changed_files = 0
    findings: list[Finding] = []
    for path in files(paths):
        changed, found = process(path, docs, dry_run=args.dry_run)
        changed_files += changed
        findings.extend(found)
    verb = "would rewrite" if args.dry_run else "rewrote"
    print(f"\n{verb} {changed_files} file(s); {len(findings)} finding(s) for a person:", file=sys.stderr)
    for finding in findings:
        print(f"  {finding}", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
