"""The README's demo tables, generated from a run's ``results/tables`` rather than pasted.

``make readme-tables`` (after ``make demo``) rewrites the block between ``BEGIN`` and ``END``
in README.md from the tables the run wrote; ``python -m wasurenai.readme --check`` exits
non-zero, naming the first table that differs, when the README no longer shows what the
results directory holds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import WorkflowError, atomic_open

BEGIN = "<!-- demo-tables: written by `make readme-tables` from results/tables; do not edit -->"
END = "<!-- /demo-tables -->"
# (file under results/tables, the heading it gets in the README)
TABLES = (
    ("table1.md", "Table 1 (`results/tables/table1.md`)"),
    ("table2.md", "Table 2, AVG / MT (`results/tables/table2.md`)"),
    ("recommendation.md", None),  # the file has its own title
    ("search_frontier.md", None),
    ("findings.md", None),
    ("findings_seeds.md", None),  # `make demo-seeds`: the findings of three synthetic seeds
)


def _body(text: str, heading: str | None) -> str:
    """A table file as a README section: its own "# title" becomes a bold line."""
    lines = text.strip("\n").splitlines()
    if lines and lines[0].startswith("# "):
        heading, lines = heading or lines[0][2:], lines[1:]
    return f"**{heading}**\n\n" + "\n".join(lines).strip("\n") + "\n"


def block(tables_dir: str | Path) -> str:
    """The generated block (markers included) for the tables in ``tables_dir``."""
    parts = []
    for name, heading in TABLES:
        path = Path(tables_dir) / name
        if not path.is_file():
            raise WorkflowError(f"{path}: missing; run `make demo` first (it writes the demo's tables)")
        parts.append(_body(path.read_text(encoding="utf-8"), heading))
    return BEGIN + "\n\n" + "\n".join(parts) + "\n" + END


def _split(readme: Path) -> tuple[str, str, str]:
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise WorkflowError(f"{readme}: no demo-tables block (the lines {BEGIN!r} ... {END!r})")
    return text[:start], text[start:end + len(END)], text[end + len(END):]


def check(readme: str | Path, tables_dir: str | Path) -> list[str]:
    """The tables whose README copy differs from ``tables_dir`` (empty: up to date)."""
    _, shown, _ = _split(Path(readme))
    return [name for name, heading in TABLES
            if _body((Path(tables_dir) / name).read_text(encoding="utf-8"), heading) not in shown]


def write(readme: str | Path, tables_dir: str | Path) -> None:
    head, _, tail = _split(Path(readme))
    new = head + block(tables_dir) + tail
    with atomic_open(readme) as fh:
        fh.write(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="results/tables")
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the README differs")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = check(args.readme, args.tables)
            if stale:
                print(f"{args.readme}: demo tables differ from {args.tables}: {', '.join(stale)} "
                      "(run `make readme-tables`)", file=sys.stderr)
                return 1
            return 0
        write(args.readme, args.tables)
    except (WorkflowError, OSError) as err:
        print(err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
