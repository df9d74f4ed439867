"""Tables 1 and 2 from evaluation JSONs, in the paper's layout."""
from __future__ import annotations

import json
from types import SimpleNamespace

from wasurenai.aggregate import main

BASES = {"b": "Base"}
MERGES = {"lin": "Linear", "ties": "TIES"}


def result(avg, mt, bleu_je=None, bert_je=None, bleu_ej=None, bert_ej=None):
    return {
        "AVG": avg, "MT": mt,
        "translation": {
            "ja-en": {"bleu": bleu_je, "bert_score": bert_je, "comet": None},
            "en-ja": {"bleu": bleu_ej, "bert_score": bert_ej, "comet": None},
        },
    }


def run(tmp_path, results):
    runs, evals = [], []
    for model, res in results.items():
        path = tmp_path / f"{model}.json"
        path.write_text(json.dumps(res))
        runs.append({"base": "b", "model": model})
        evals.append(str(path))
    out = {name: str(tmp_path / f"{name.replace('_', '.')}")
           for name in ("table1_md", "table1_csv", "table2_md", "table2_csv")}
    smk = SimpleNamespace(
        input=SimpleNamespace(evals=evals), output=SimpleNamespace(**out), log=[],
        params=SimpleNamespace(runs=runs, bases=BASES, merges=MERGES,
                               directions=["ja-en", "en-ja"], table1_merge="lin"),
    )
    main(smk)
    return {name: (tmp_path / name.replace("_", ".")).read_text() for name in out}


def test_tables_in_the_paper_layout(tmp_path):
    tables = run(tmp_path, {
        "base": result(0.395, 0.824, 12.53, 0.938, 10.1, 0.85),
        "ja-en": result(0.378, 0.816, 16.8, 0.951, 10.3, 0.852),
        "en-ja": result(0.37, 0.783, 7.07, 0.838, 11.0, 0.863),
        "lin": result(0.388, 0.83, 14.7, 0.941, 10.3, 0.86),
        "ties": result(0.375, None),
    })
    assert tables["table1_csv"] == (
        "base,model,AVG,MT,ja-en BERTScore,ja-en BLEU,ja-en COMET,en-ja BERTScore,en-ja BLEU,en-ja COMET\n"
        "Base,base,0.395,0.824,0.938,12.5,n/a,0.850,10.1,n/a\n"
        "Base,ja-en,0.378,0.816,0.951,16.8,n/a,0.852,10.3,n/a\n"
        "Base,en-ja,0.370,0.783,0.838,7.1,n/a,0.863,11.0,n/a\n"
        "Base,merged (Linear),0.388,0.830,0.941,14.7,n/a,0.860,10.3,n/a\n"
    )
    assert tables["table2_csv"] == (
        "base,base model,Linear,TIES\n"
        "Base,0.395 / 0.824,0.388 / 0.830,0.375 / n/a\n"
    )
    md = tables["table2_md"].splitlines()
    assert [c.strip() for c in md[0].split("|")[1:-1]] == ["base", "base model", "Linear", "TIES"]
    assert [c.strip() for c in md[2].split("|")[1:-1]] == ["Base", "0.395 / 0.824", "0.388 / 0.830", "0.375 / n/a"]


def test_missing_and_nan_scores_are_na_never_zero(tmp_path):
    tables = run(tmp_path, {m: result(float("nan"), None) for m in ("base", "ja-en", "en-ja", "lin", "ties")})
    for line in tables["table1_csv"].splitlines()[1:]:
        assert line.split(",")[2:] == ["n/a"] * 8
