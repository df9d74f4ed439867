"""Fixture evaluation JSONs shaped like the paper's results, for the report tests.

Tables 1 and 2 use the paper's numbers; the Figure 2 sweeps (Linear and TIES, base share
0.1 ... 0.9) are made up with the paper's pattern: Linear trades AVG for BLEU monotonically,
TIES does not.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

from snakemake.io import Namedlist

from wasurenai.jobs import AggregateJob

BASES = {"llm-jp-3-3.7b": "Base", "llm-jp-3-3.7b-instruct": "Instruct"}
DIRECTIONS = ["ja-en", "en-ja"]
MERGES = {"linear": "Linear", "ties": "TIES", "dare": "DARE", "ties-dare": "TIES-DARE"}
SHARES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
CATEGORIES = ["NLI", "QA", "RC", "MC", "EL", "FA", "MR", "MT", "HE", "CG"]

# (AVG, MT, ja-en (BERTScore, BLEU, COMET), en-ja (BERTScore, BLEU, COMET)): paper Table 1
TABLE1 = {
    "Base": {
        "base": (0.395, 0.824, (0.938, 12.5, 0.856), (0.850, 10.1, 0.892)),
        "ja-en": (0.378, 0.816, (0.951, 16.8, 0.881), (0.852, 10.3, 0.892)),
        "en-ja": (0.370, 0.783, (0.838, 7.07, 0.771), (0.863, 11.0, 0.897)),
        "linear": (0.388, 0.830, (0.941, 14.7, 0.859), (0.860, 10.3, 0.900)),
    },
    "Instruct": {
        "base": (0.471, 0.838, (0.942, 13.0, 0.864), (0.851, 8.86, 0.898)),
        "ja-en": (0.393, 0.753, (0.948, 15.5, 0.874), (0.787, 6.02, 0.752)),
        "en-ja": (0.411, 0.798, (0.899, 10.8, 0.818), (0.862, 10.6, 0.899)),
        "linear": (0.448, 0.841, (0.945, 14.4, 0.868), (0.857, 10.4, 0.900)),
    },
}
TABLE2 = {  # the merges Table 1 does not have: (AVG, MT)
    "Base": {"ties": (0.375, 0.819), "dare": (0.377, 0.827), "ties-dare": (0.380, 0.824)},
    "Instruct": {"ties": (0.395, 0.831), "dare": (0.407, 0.834), "ties-dare": (0.396, 0.832)},
}


def evaluation(avg, mt, je=None, ej=None, seed=0.0) -> dict:
    """An evaluation JSON (the keys the report reads): categories spread around AVG so
    their mean over the nine evaluated ones is AVG (CG is not evaluated)."""
    spread = [0.10, -0.05, 0.08, -0.12, 0.03, -0.09, 0.07, None, -0.02]
    cats = {c: None for c in CATEGORIES}
    others = [c for c in CATEGORIES if c not in ("MT", "CG")]
    offsets = [s + 0.02 * math.sin(seed + i) for i, s in enumerate(spread) if s is not None]
    mean_offset = sum(offsets) / len(offsets)
    base = (9 * avg - mt) / 8  # the eight non-MT categories average to this
    for cat, off in zip(others, offsets):
        cats[cat] = round(base + off - mean_offset, 6)
    cats["MT"] = mt

    def trans(scores):
        if scores is None:
            return {"bleu": None, "bert_score": None, "comet": None, "reasons": {}}
        bert, bleu, comet = scores
        return {"bleu": bleu, "bert_score": bert, "comet": comet, "reasons": {}}

    return {"AVG": avg, "MT": mt, "categories": cats,
            "category_reasons": {"CG": "not evaluated: code execution is not run"},
            "translation": {"ja-en": trans(je), "en-ja": trans(ej)}}


def sweep_point(label: str, method: str, share: float) -> dict:
    """Made-up sweep scores with the paper's pattern."""
    base = TABLE1[label]["base"]
    k = 1.0 if label == "Instruct" else 0.35
    if method == "linear":
        avg = base[0] - k * 0.09 * (1 - share) ** 1.5
        je, ej = 15.6 - 2.6 * share, 10.7 - 1.8 * share * (1.2 if label == "Instruct" else 0.3)
    else:
        avg = base[0] - k * (0.08 - 0.05 * share + 0.03 * math.sin(7 * share))
        je, ej = 14.0 + 1.2 * math.sin(5 * share), 9.5 + 0.8 * math.cos(6 * share)
    mt = base[1] + 0.012 * math.sin(3 * share) - 0.004
    return evaluation(round(avg, 4), round(mt, 4), (0.94, round(je, 2), 0.86),
                      (0.855, round(ej, 2), 0.895), seed=share)


def sweep_points() -> dict:
    """{point name: aggregate's sweep info} for both sweeps."""
    points = {}
    for name, label, method in (("linear-sweep", "Linear", "linear"), ("ties-sweep", "TIES", "ties")):
        for share in SHARES:
            point = f"{name}-share{share:g}" + ("-density0.5" if method == "ties" else "")
            axes = {"base_share": share, **({"density": 0.5} if method == "ties" else {})}
            label_text = f"{label} share={share:g}" + (" density=0.5" if method == "ties" else "")
            points[point] = {"sweep": name, "point": axes, "label": label_text, "method": method}
    return points


def results(sweeps: bool = True) -> dict:
    """{(base, model): evaluation JSON} for every model of both bases."""
    out = {}
    for base, label in BASES.items():
        for model, (avg, mt, je, ej) in TABLE1[label].items():
            out[(base, model)] = evaluation(avg, mt, je, ej)
        for model, (avg, mt) in TABLE2[label].items():
            out[(base, model)] = evaluation(avg, mt, seed=len(model))
        if sweeps:
            for point, info in sweep_points().items():
                out[(base, point)] = sweep_point(label, info["method"], info["point"]["base_share"])
    return out


class Outputs(SimpleNamespace):
    def __getitem__(self, key):
        return getattr(self, key)


AGGREGATE_OUTPUTS = {
    "table1_md": "table1.md", "table1_csv": "table1.csv", "table1_tex": "table1.tex",
    "table1_html": "table1.html", "table2_md": "table2.md", "table2_csv": "table2.csv",
    "table2_tex": "table2.tex", "table2_html": "table2.html", "categories_md": "categories.md",
    "categories_csv": "categories.csv", "categories_html": "categories.html",
    "sweeps_csv": "sweeps.csv", "scores_csv": "scores.csv",
}
REFERENCE_OUTPUTS = {f"{t}_ref_{e}": f"{t}_vs_reference.{e}" for t in ("table1", "table2")
                     for e in ("md", "csv", "tex", "html")}


def _write_eval(tmp: Path, base: str, model: str, data: dict) -> str:
    path = tmp / "eval" / base / f"{model}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


def aggregate_job(tmp: Path, res: dict, reference: str | None = None, sweeps: bool = True,
                  fronts: dict | None = None, dev: dict | None = None):
    """The AggregateJob of a Snakemake-like rule over ``res``, for wasurenai.aggregate.main.

    ``fronts``: base -> {front point: its evaluation JSON} of a search "frontier" (written as
    a search_front front.json and the points' evaluations, as rule aggregate gets them);
    ``dev``: params.dev."""
    runs, evals = [], []
    for (base, model), data in res.items():
        runs.append({"base": base, "model": model})
        evals.append(_write_eval(tmp, base, model, data))
    names = {**AGGREGATE_OUTPUTS, **(REFERENCE_OUTPUTS if reference else {})}
    inputs = {"evals": evals, **({"reference": reference} if reference else {})}
    front_keys, point_evals = [], []
    for base, points in (fronts or {}).items():
        front = tmp / "search" / base / "frontier" / "front.json"
        front.parent.mkdir(parents=True, exist_ok=True)
        front.write_text(json.dumps({"points": {p: {"spec": {"label": f"TIES search {p[-1]}"}}
                                                for p in points}}))
        front_keys.append({"base": base, "search": "frontier"})
        inputs.setdefault("fronts", []).append(str(front))
        point_evals += [_write_eval(tmp, base, p, data) for p, data in points.items()]
    if fronts:
        inputs["point_evals"] = point_evals
    points = {p: {k: v for k, v in info.items() if k != "method"}
              for p, info in sweep_points().items()} if sweeps else {}
    return AggregateJob.from_snakemake(SimpleNamespace(
        input=Namedlist(fromdict=inputs),
        output=Namedlist(fromdict={k: str(tmp / "tables" / v) for k, v in names.items()}),
        params=Namedlist(fromdict={"runs": runs, "bases": BASES, "merges": MERGES,
                                   "directions": DIRECTIONS, "table1_merge": "linear",
                                   "sweeps": points, "fronts": front_keys, "dev": dev}),
        log=[str(tmp / "logs" / "aggregate.log")],
    ))
