"""docs/study.md against the shipped configs, and a project that stands alone: nothing a user
reads points outside the repository, and every local link resolves."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from wasurenai.reference import load_reference

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "docs" / "study.md"
PRESET = REPO / "configs" / "llm-jp-3-3.7b.yaml"
REFERENCE = REPO / "configs" / "reference" / "paper.yaml"
T1_COLUMNS = ["AVG", "MT", *(f"{d} {m}" for d in ("ja-en", "en-ja")
                             for m in ("BERTScore", "BLEU", "COMET"))]


def table_after(text: str, heading: str) -> list[dict[str, str]]:
    """The rows ({header: cell}) of the first Markdown table after the line ``heading``."""
    lines = text.splitlines()
    if heading not in lines:
        raise AssertionError(f"{STUDY}: no heading {heading!r}")
    rows: list[list[str]] = []
    for line in lines[lines.index(heading) + 1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    header, _, *body = rows
    assert all(len(r) == len(header) for r in body), heading
    return [dict(zip(header, r)) for r in body]


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\.?\d*(?:e-?\d+)?", text)]


def config_value(cfg: dict, key: str):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


@pytest.fixture(scope="module")
def study() -> str:
    return STUDY.read_text(encoding="utf-8")


def test_tables_1_and_2_are_the_shipped_reference_number_for_number(study):
    ref = load_reference(REFERENCE)
    t1 = table_after(study, "### Table 1")
    assert [(r["base"], r["model"]) for r in t1] == [
        (base, model) for base in ("Base", "Instruct")
        for model in ("base", "ja-en", "en-ja", "merged (Linear)")]
    for row in t1:
        assert [float(row[c]) for c in T1_COLUMNS] == \
            [ref["table1"][row["base"]][row["model"]][c] for c in T1_COLUMNS], row
    t2 = table_after(study, "### Table 2")
    assert [r["base"] for r in t2] == ["Base", "Instruct"]
    for row in t2:
        merges = [c for c in row if c != "base"]
        assert merges == list(ref["table2"][row["base"]])
        for merge in merges:
            assert numbers(row[merge]) == [ref["table2"][row["base"]][merge][s]
                                           for s in ("AVG", "MT")], (row["base"], merge)


def test_table_3_is_the_paper_presets_hyperparameters(study):
    cfg = yaml.safe_load(PRESET.read_text(encoding="utf-8"))
    rows = [r for r in table_after(study, "### Table 3: CPT hyperparameters")
            if re.fullmatch(r"`[\w.]+`", r["config key"])]
    assert len(rows) == 10
    for row in rows:
        value = config_value(cfg, row["config key"].strip("`"))
        assert numbers(row["the study"]) == [float(v) for v in
                                             (value if isinstance(value, list) else [value])], row


def test_table_4_is_the_paper_presets_merges(study):
    merges = yaml.safe_load(PRESET.read_text(encoding="utf-8"))["merges"]
    rows = table_after(study, "### Table 4: merge methods and weights")
    assert [r["preset"] for r in rows] == [f"`merges.{name}`" for name in merges]
    for row in rows:
        merge = merges[row["preset"].strip("`").removeprefix("merges.")]
        assert (row["method"], row["mergekit"]) == (merge["label"], f"`{merge['method']}`")
        for role in ("base", "ja-en", "en-ja"):
            cell = dict(re.findall(r"(weight|density) ([\d.]+)", row[role]))
            if row[role].startswith("base model"):
                assert role == "base" and role not in merge["weights"], row
                continue
            assert float(cell["weight"]) == merge["weights"][role], (row["method"], role)
            density = float(cell["density"]) if "density" in cell else None
            assert density == merge.get("density"), (row["method"], role)


# --- standing alone ----------------------------------------------------------------------------

USER_FACING = ["README.md", "Snakefile", "Makefile", "config.yaml", "docs", "configs", "workflow",
               "scripts", "profiles", "envs", "bench"]
OUTSIDE = re.compile(r"\.\./shared|shared/(?:paper|design|llm-jp-eval)\.md|/work/(?:main|shared)")


def user_facing_files():
    for name in USER_FACING:
        path = REPO / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" not in file.parts and file.suffix not in (".pyc", ".json"):
                yield file


def test_nothing_user_facing_points_outside_the_repository():
    found = []
    for path in user_facing_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(REPO)}:{text[:m.start()].count(chr(10)) + 1}: {m.group()}"
                  for m in OUTSIDE.finditer(text)]
    assert not found, "points outside the repository: " + "; ".join(found)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_local_links_in_readme_and_docs_resolve():
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for doc in docs:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and anchor not in {github_anchor(line.lstrip("#"))
                                           for line in path.read_text(encoding="utf-8").splitlines()
                                           if line.startswith("#")}:
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert not broken, broken
    assert "docs/study.md" in (REPO / "README.md").read_text(encoding="utf-8")


def test_the_readmes_demo_tables_are_generated_from_a_runs_tables(tmp_path):
    """`make readme-tables` rewrites the README's block from results/tables; --check fails,
    naming the table, once a run's tables and the README disagree; the README has the block."""
    from wasurenai import readme

    assert readme.BEGIN in (REPO / "README.md").read_text() and readme.END in (REPO / "README.md").read_text()
    tables = tmp_path / "tables"
    tables.mkdir()
    for name, _ in readme.TABLES:
        (tables / name).write_text(f"# {name} title\n\n| a | b |\n|---|---|\n| 1 | {name} |\n\n- a note\n")
    doc = tmp_path / "README.md"
    doc.write_text(f"intro\n\n{readme.BEGIN}\nold, pasted by hand\n{readme.END}\n\nafter\n")
    assert readme.main(["--readme", str(doc), "--tables", str(tables), "--check"]) == 1
    assert readme.main(["--readme", str(doc), "--tables", str(tables)]) == 0
    text = doc.read_text()
    assert text.startswith("intro\n\n") and text.endswith("\n\nafter\n") and "pasted" not in text
    assert "**Table 1 (`results/tables/table1.md`)**" in text and "| 1 | table2.md |" in text
    assert "**search_frontier.md title**" in text  # a table's own title, as a bold line
    assert readme.check(doc, tables) == []
    (tables / "table2.md").write_text("| a |\n|---|\n| 2 |\n")  # a new run
    assert readme.check(doc, tables) == ["table2.md"]
    (tables / "table1.md").unlink()
    assert readme.main(["--readme", str(doc), "--tables", str(tables)]) == 2
    assert "| 1 | table2.md |" in doc.read_text()  # nothing written when a table is missing
