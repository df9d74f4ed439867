"""Tables 1 and 2 from evaluation JSONs, in the paper's layout."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from snakemake.io import Namedlist

from wasurenai.aggregate import fmt, main
from wasurenai.common import WorkflowError
from wasurenai.jobs import AggregateJob

BASES = {"tiny": "Base", "tiny-instruct": "Instruct"}
MERGES = {"linear": "Linear", "ties": "TIES"}
MODELS = ("base", "ja-en", "en-ja", "linear", "ties")
TABLES = ("table1_md", "table1_csv", "table1_tex", "table1_html", "table2_md", "table2_csv",
          "table2_tex", "table2_html", "categories_md", "categories_csv", "categories_html",
          "sweeps_csv", "scores_csv")


def result(avg, mt, je=(None, None, None), ej=(None, None, None)):
    """An evaluation JSON as evaluation.py writes it (only the keys aggregate reads, plus some)."""
    def trans(bleu, bert, comet):
        reasons = {} if comet is not None else {"comet": "not requested"}
        return {"bleu": bleu, "bert_score": bert, "comet": comet, "reasons": reasons}
    return {
        "base": "x", "model": "y", "AVG": avg, "MT": mt,
        "categories": {"MT": mt, "CG": None},
        "category_reasons": {"CG": "not evaluated: mbpp: code execution is not run"},
        "translation": {"ja-en": trans(*je), "en-ja": trans(*ej)},
    }


def smk_for(tmp_path, results):
    runs, evals = [], []
    for (base, model), res in results.items():
        path = tmp_path / "eval" / base / f"{model}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, allow_nan=True))
        runs.append({"base": base, "model": model})
        evals.append(str(path))
    return SimpleNamespace(
        input=Namedlist(fromdict={"evals": evals}),
        output=Namedlist(fromdict={t: str(tmp_path / "tables" / t.replace("_", ".")) for t in TABLES}),
        params=Namedlist(fromdict={"runs": runs, "bases": BASES, "merges": MERGES,
                                   "directions": ["ja-en", "en-ja"], "table1_merge": "linear"}),
        log=[str(tmp_path / "aggregate.log")],
    )


def run(tmp_path, results):
    smk = smk_for(tmp_path, results)
    main(AggregateJob.from_snakemake(smk))
    return {t: (tmp_path / "tables" / t.replace("_", ".")).read_text() for t in TABLES}


PAPER = {  # Table 1 and Table 2 of the paper (COMET left out for Instruct, TIES MT missing)
    ("tiny", "base"): result(0.395, 0.824, (12.53, 0.938, 0.856), (10.1, 0.85, 0.892)),
    ("tiny", "ja-en"): result(0.378, 0.816, (16.8, 0.951, 0.881), (10.3, 0.852, 0.892)),
    ("tiny", "en-ja"): result(0.37, 0.783, (7.07, 0.838, 0.771), (11.0, 0.863, 0.897)),
    ("tiny", "linear"): result(0.388, 0.83, (14.7, 0.941, 0.859), (10.3, 0.86, 0.9)),
    ("tiny", "ties"): result(0.375, 0.819),
    ("tiny-instruct", "base"): result(0.471, 0.838, (13.0, 0.942, None), (8.86, 0.851, None)),
    ("tiny-instruct", "ja-en"): result(0.393, 0.753, (15.5, 0.948, None), (6.02, 0.787, None)),
    ("tiny-instruct", "en-ja"): result(0.411, 0.798, (10.8, 0.899, None), (10.6, 0.862, None)),
    ("tiny-instruct", "linear"): result(0.448, 0.841, (14.4, 0.945, None), (10.4, 0.857, None)),
    ("tiny-instruct", "ties"): result(0.395, None),
}


def test_tables_in_the_paper_layout(tmp_path):
    tables = run(tmp_path, PAPER)
    assert tables["table1_csv"] == (
        "base,model,AVG,MT,ja-en BERTScore,ja-en BLEU,ja-en COMET,en-ja BERTScore,en-ja BLEU,en-ja COMET\n"
        "Base,base,0.395,0.824,0.938,12.5,0.856,0.850,10.1,0.892\n"
        "Base,ja-en,0.378,0.816,0.951,16.8,0.881,0.852,10.3,0.892\n"
        "Base,en-ja,0.370,0.783,0.838,7.07,0.771,0.863,11.0,0.897\n"
        "Base,merged (Linear),0.388,0.830,0.941,14.7,0.859,0.860,10.3,0.900\n"
        "Instruct,base,0.471,0.838,0.942,13.0,n/a,0.851,8.86,n/a\n"
        "Instruct,ja-en,0.393,0.753,0.948,15.5,n/a,0.787,6.02,n/a\n"
        "Instruct,en-ja,0.411,0.798,0.899,10.8,n/a,0.862,10.6,n/a\n"
        "Instruct,merged (Linear),0.448,0.841,0.945,14.4,n/a,0.857,10.4,n/a\n"
    )
    assert tables["table2_csv"] == (
        "base,base model,Linear,TIES\n"
        "Base,0.395 / 0.824,0.388 / 0.830,0.375 / 0.819\n"
        "Instruct,0.471 / 0.838,0.448 / 0.841,0.395 / n/a\n"
    )
    assert tables["table2_md"] == (  # per base, across the row: best bold, second italic
        "| base     | base model          | Linear              | TIES          |\n"
        "|----------|---------------------|---------------------|---------------|\n"
        "| Base     | **0.395** / _0.824_ | _0.388_ / **0.830** | 0.375 / 0.819 |\n"
        "| Instruct | **0.471** / _0.838_ | _0.448_ / **0.841** | 0.395 / n/a   |\n"
        "\n"
        "- n/a in MT: not measured\n"
        "- Bold: best per base; italic: second best (on the displayed values).\n"
    )
    assert tables["table1_md"] == (  # per base and column: best bold, second italic
        "| base     | model           | AVG       | MT        | ja-en BERTScore   | ja-en BLEU   | ja-en COMET   | en-ja BERTScore   | en-ja BLEU   | en-ja COMET   |\n"  # noqa: E501
        "|----------|-----------------|-----------|-----------|-------------------|--------------|---------------|-------------------|--------------|---------------|\n"
        "| Base     | base            | **0.395** | _0.824_   | 0.938             | 12.5         | 0.856         | 0.850             | 10.1         | 0.892         |\n"  # noqa: E501
        "| Base     | ja-en           | 0.378     | 0.816     | **0.951**         | **16.8**     | **0.881**     | 0.852             | _10.3_       | 0.892         |\n"  # noqa: E501
        "| Base     | en-ja           | 0.370     | 0.783     | 0.838             | 7.07         | 0.771         | **0.863**         | **11.0**     | _0.897_       |\n"  # noqa: E501
        "| Base     | merged (Linear) | _0.388_   | **0.830** | _0.941_           | _14.7_       | _0.859_       | _0.860_           | _10.3_       | **0.900**     |\n"  # noqa: E501
        "| Instruct | base            | **0.471** | _0.838_   | 0.942             | 13.0         | n/a           | 0.851             | 8.86         | n/a           |\n"  # noqa: E501
        "| Instruct | ja-en           | 0.393     | 0.753     | **0.948**         | **15.5**     | n/a           | 0.787             | 6.02         | n/a           |\n"  # noqa: E501
        "| Instruct | en-ja           | 0.411     | 0.798     | 0.899             | 10.8         | n/a           | **0.862**         | **10.6**     | n/a           |\n"  # noqa: E501
        "| Instruct | merged (Linear) | _0.448_   | **0.841** | _0.945_           | _14.4_       | n/a           | _0.857_           | _10.4_       | n/a           |\n"  # noqa: E501
        "\n"
        "- n/a in ja-en COMET, en-ja COMET: not requested\n"
        "- Bold: best per base; italic: second best (on the displayed values).\n"
    )
    assert tables["table1_tex"] == (  # best \\textbf, second \\underline; the paper's two-level header
        "% requires \\usepackage{booktabs}\n"
        "% n/a in ja-en COMET, en-ja COMET: not requested\n"
        "% Bold: best per base; underlined: second best (on the displayed values).\n"
        "\\begin{tabular}{llrrrrrrrr}\n"
        "\\toprule\n"
        " &  &  &  & \\multicolumn{3}{c}{ja-en} & \\multicolumn{3}{c}{en-ja} \\\\\n"
        "\\cmidrule(lr){5-7} \\cmidrule(lr){8-10}\n"
        "base & model & AVG & MT & BERTScore & BLEU & COMET & BERTScore & BLEU & COMET \\\\\n"
        "\\midrule\n"
        "Base & base & \\textbf{0.395} & \\underline{0.824} & 0.938 & 12.5 & 0.856 & 0.850 & 10.1 & 0.892 \\\\\n"
        " & ja-en & 0.378 & 0.816 & \\textbf{0.951} & \\textbf{16.8} & \\textbf{0.881} & 0.852 & \\underline{10.3} & 0.892 \\\\\n"  # noqa: E501
        " & en-ja & 0.370 & 0.783 & 0.838 & 7.07 & 0.771 & \\textbf{0.863} & \\textbf{11.0} & \\underline{0.897} \\\\\n"
        " & merged (Linear) & \\underline{0.388} & \\textbf{0.830} & \\underline{0.941} & \\underline{14.7} & \\underline{0.859} & \\underline{0.860} & \\underline{10.3} & \\textbf{0.900} \\\\\n"  # noqa: E501
        "\\midrule\n"
        "Instruct & base & \\textbf{0.471} & \\underline{0.838} & 0.942 & 13.0 & n/a & 0.851 & 8.86 & n/a \\\\\n"
        " & ja-en & 0.393 & 0.753 & \\textbf{0.948} & \\textbf{15.5} & n/a & 0.787 & 6.02 & n/a \\\\\n"
        " & en-ja & 0.411 & 0.798 & 0.899 & 10.8 & n/a & \\textbf{0.862} & \\textbf{10.6} & n/a \\\\\n"
        " & merged (Linear) & \\underline{0.448} & \\textbf{0.841} & \\underline{0.945} & \\underline{14.4} & n/a & \\underline{0.857} & \\underline{10.4} & n/a \\\\\n"  # noqa: E501
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )
    assert tables["table2_tex"] == (
        "% requires \\usepackage{booktabs}\n"
        "% n/a in MT: not measured\n"
        "% Bold: best per base; underlined: second best (on the displayed values).\n"
        "\\begin{tabular}{lrrr}\n"
        "\\toprule\n"
        "base & base model & Linear & TIES \\\\\n"
        "\\midrule\n"
        "Base & \\textbf{0.395} / \\underline{0.824} & \\underline{0.388} / \\textbf{0.830} & 0.375 / 0.819 \\\\\n"
        "\\midrule\n"
        "Instruct & \\textbf{0.471} / \\underline{0.838} & \\underline{0.448} / \\textbf{0.841} & 0.395 / n/a \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )
    assert tables["categories_csv"].splitlines()[:3] == [
        "base,model,MT,CG,AVG", "Base,base,0.824,n/a,0.395", "Base,ja-en,0.816,n/a,0.378",
    ]
    assert tables["categories_md"].endswith(
        "\n- n/a in CG: not evaluated: mbpp: code execution is not run\n"
        "- n/a in MT: not measured\n"
    )


def test_missing_and_nan_scores_are_na_never_zero(tmp_path):
    empty = {"AVG": float("nan"), "MT": None, "translation": None}
    tables = run(tmp_path, {(b, m): empty for b in BASES for m in MODELS})
    for line in tables["table1_csv"].splitlines()[1:]:
        assert line.split(",")[2:] == ["n/a"] * 8
    assert tables["table2_csv"].splitlines()[1] == "Base,n/a / n/a,n/a / n/a,n/a / n/a"


@pytest.mark.parametrize("value, kind, text", [
    (0.0, "score", "0.000"), (1, "score", "1.000"), (0.12345, "score", "0.123"),
    (12.53, "bleu", "12.5"), (7.07, "bleu", "7.07"), (100.0, "bleu", "100"), (0.4567, "bleu", "0.457"),
    (0.0, "bleu", "0.0"), (None, "bleu", "n/a"), (float("inf"), "score", "n/a"), ("0.5", "score", "n/a"),
])
def test_fmt(value, kind, text):
    assert fmt(value, kind) == text


def test_a_missing_run_or_a_bad_file_fails_naming_it(tmp_path):
    partial = {k: v for k, v in PAPER.items() if k != ("tiny-instruct", "ties")}
    with pytest.raises(WorkflowError, match="model 'ties' for base 'tiny-instruct'"):
        run(tmp_path / "a", partial)
    smk = smk_for(tmp_path / "b", PAPER)
    with open(smk.input.evals[3], "w") as fh:
        fh.write("{not json")
    with pytest.raises(WorkflowError, match="linear.json: not a readable evaluation JSON"):
        main(AggregateJob.from_snakemake(smk))
    assert not (tmp_path / "b" / "tables" / "table1.csv").exists()


def test_a_category_scored_zero_is_marked_and_the_csv_stays_plain():
    """llm-jp-eval counts a category without a score as 0.0 in AVG: the tables say so."""
    from wasurenai.aggregate import Notes, category_table, table1, write_table
    from wasurenai.llm_jp_eval import ZEROED

    res = result(0.405, 0.8, (10.0, 0.9, 0.8), (11.0, 0.9, 0.8))
    res["categories"] = {"MT": 0.8, "CG": 0.0}
    res["category_reasons"] = {"CG": f"{ZEROED}; not evaluated: mbpp: ..."}
    results = {("tiny", m): res for m in ("base", "ja-en", "en-ja", "linear")}
    notes = Notes()
    t1 = table1(results, {"tiny": "Base"}, {"linear": "Linear"}, ["ja-en", "en-ja"], "linear",
                notes)
    assert list(t1["AVG"]) == ["0.405†"] * 4
    tc = category_table(results, {"tiny": "Base"}, {"linear": "Linear"}, ["base"], notes)
    assert tc.loc[0, "CG"] == "0.000†" and tc.loc[0, "MT"] == "0.800"
    lines = notes.lines()
    assert "† in AVG: counts CG as 0.0, as llm-jp-eval's AVG does" in lines
    assert f"† in CG: {ZEROED}; not evaluated: mbpp: ..." in lines
    md, csv = tmp_dir() / "t.md", tmp_dir() / "t.csv"
    write_table(tc, md, csv, notes, mark_columns=["CG", "AVG"])
    assert "0.000†" in md.read_text() and "† in CG" in md.read_text()
    assert "†" not in csv.read_text() and ",0.000," in csv.read_text()


def tmp_dir():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp())
