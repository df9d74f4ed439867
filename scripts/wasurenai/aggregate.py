"""Evaluation JSONs -> the paper's Table 1 and Table 2 (Markdown, CSV, LaTeX, HTML).

Table 1: per base, the base model, each CPT model and the Table-1 merge, with AVG and MT
(llm-jp-eval) and per direction BERTScore, BLEU and COMET. Table 2: per base, AVG / MT of the
base model and of every merge. The category table: every llm-jp-eval category of every
model. Scores in 0-1 get 3 decimals, BLEU (0-100) 3 significant digits as in the paper
(12.5, 7.07). A value that was not measured is "n/a", never 0, and the Markdown says why
below the table (the reasons the evaluation JSONs give). A category that llm-jp-eval's AVG
counts as 0.0 for want of a score reads "0.000†", and so does an AVG that counts one
(``tables.ZERO_MARK``), with the reason below the table; the CSVs stay plain numbers. Markdown, LaTeX and HTML mark
the best value per base (bold) and the second (italic / underlined); CSV stays plain. With a
reference (``report.reference``), ``table{1,2}_vs_reference`` interleave its numbers and the
deltas with ours. ``scores.csv``: every score of every model, unrounded, for the figures.
"""
from __future__ import annotations

import json

import pandas as pd

from . import findings, tables
from .common import WorkflowError, atomic_open, get_logger, read_json
from .jobs import AggregateJob
from .llm_jp_eval import ZEROED
from .reference import compare, load_reference
from .stats import DEFAULTS as INTERVAL_DEFAULTS
from .stats import base_intervals, check_samples
from .testsets import languages
from .tables import DEV_PREFIX, METRIC_COLUMNS, NA, PART_SEP, SIG_MARK, ZERO_MARK, finite, fmt, parts


def load_results(evals: dict[tuple[str, str], str]) -> dict[tuple[str, str], dict]:
    """{(base, model): evaluation JSON} from {(base, model): its path}; unreadable or
    malformed files fail naming the file."""
    results = {}
    for run, path in evals.items():
        try:
            res = read_json(path)
        except (OSError, json.JSONDecodeError) as err:
            raise WorkflowError(f"{path}: not a readable evaluation JSON ({err})") from err
        if not isinstance(res, dict):
            raise WorkflowError(f"{path}: an evaluation JSON must be an object")
        check_samples(res, path)
        for key in ("AVG", "MT"):
            value = res.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise WorkflowError(f"{path}: {key} is not a number or null: {value!r}")
        results[run] = res
    return results


def _result(results: dict, base: str, model: str) -> dict:
    if (base, model) not in results:
        raise WorkflowError(f"aggregate: no evaluation of model {model!r} for base {base!r}")
    return results[(base, model)]


def per_base(models, bases) -> dict[str, list[str]]:
    """base -> its models: ``models`` as given, or one list that every base shares."""
    return dict(models) if isinstance(models, dict) else {b: list(models) for b in bases}


def model_label(model: str, merges: dict[str, str]) -> str:
    return f"merged ({merges[model]})" if model in merges else model


class Notes:
    """Why cells are n/a or marked †: (mark, reason) -> the columns it applies to (in
    first-seen order)."""

    def __init__(self):
        self.reasons: dict[tuple[str, str], list[str]] = {}

    def add(self, reason: str | None, column: str, mark: str = NA) -> None:
        if reason:
            cols = self.reasons.setdefault((mark, reason), [])
            if column not in cols:
                cols.append(column)

    def lines(self) -> list[str]:
        return [f"{mark} in {', '.join(cols)}: {reason}"
                for (mark, reason), cols in self.reasons.items()]

    def markdown(self) -> str:
        return markdown_notes(self.lines())


def markdown_notes(lines: list[str]) -> str:
    return "\n" + "\n".join(f"- {line}" for line in lines) + "\n" if lines else ""


def _cell(value, kind, reason, column, notes: Notes | None) -> str:
    text = fmt(value, kind)
    if text == NA and notes is not None:
        notes.add(reason or "not measured", column)
    elif text != NA and reason and reason.startswith(ZEROED):
        text += ZERO_MARK
        if notes is not None:
            notes.add(reason, column, ZERO_MARK)
    return text


def zeroed_categories(res: dict) -> list[str]:
    """The categories an evaluation counted as 0.0 in its AVG, for want of a score."""
    return [cat for cat, why in (res.get("category_reasons") or {}).items()
            if str(why).startswith(ZEROED)]


def avg_cell(res: dict, notes: Notes | None = None) -> str:
    """AVG as displayed: marked † when it counts a category scored 0.0."""
    text, zeroed = fmt(res.get("AVG")), zeroed_categories(res)
    if text == NA or not zeroed:
        return text
    if notes is not None:
        notes.add(f"counts {', '.join(zeroed)} as 0.0, as llm-jp-eval's AVG does", "AVG",
                  ZERO_MARK)
    return text + ZERO_MARK


def table1(results: dict, bases: dict, merges: dict, directions: list, table1_merge: str,
           notes: Notes | None = None) -> pd.DataFrame:
    """Rows per base: base, each direction's CPT model, the Table-1 merge."""
    rows = []
    for base, label in bases.items():
        for model in ["base", *directions, table1_merge]:
            res = _result(results, base, model)
            reasons = res.get("category_reasons") or {}
            row = {"base": label, "model": model_label(model, merges),
                   "AVG": avg_cell(res, notes),
                   "MT": _cell(res.get("MT"), "score", reasons.get("MT"), "MT", notes)}
            translation = res.get("translation") or {}
            for direction in directions:
                scores = translation.get(direction) or {}
                for column, key in METRIC_COLUMNS:
                    name = f"{direction} {column}"
                    row[name] = _cell(scores.get(key), key, (scores.get("reasons") or {}).get(key),
                                      name, notes)
            rows.append(row)
    return pd.DataFrame(rows)


def category_table(results: dict, bases: dict, merges: dict, models: dict[str, list[str]] | list[str],
                   notes: Notes | None = None) -> pd.DataFrame:
    """Every category of every model (``models``: base -> its models), in the order the
    evaluation JSONs list them, then AVG."""
    rows, categories, models = [], [], per_base(models, bases)
    for base in bases:
        for model in models[base]:
            for cat in (_result(results, base, model).get("categories") or {}):
                if cat not in categories:
                    categories.append(cat)
    for base, label in bases.items():
        for model in models[base]:
            res = _result(results, base, model)
            scores, reasons = res.get("categories") or {}, res.get("category_reasons") or {}
            row = {"base": label, "model": model_label(model, merges)}
            for cat in categories:
                row[cat] = _cell(scores.get(cat), "score", reasons.get(cat), cat, notes)
            row["AVG"] = avg_cell(res, notes)
            rows.append(row)
    return pd.DataFrame(rows)


def table2(results: dict, bases: dict, merges: dict, notes: Notes | None = None) -> pd.DataFrame:
    """One row per base: "AVG / MT" of the base model and of every merge (by label)."""
    rows = []
    for base, label in bases.items():
        row = {"base": label}
        for model, column in [("base", "base model"), *merges.items()]:
            res = _result(results, base, model)
            mt = _cell(res.get("MT"), "score", (res.get("category_reasons") or {}).get("MT"),
                       "MT", notes)
            row[column] = f"{avg_cell(res, notes)} / {mt}"
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_table(results: dict, bases: dict, sweeps: dict, directions: list) -> pd.DataFrame:
    """One row per base and sweep grid point: its axis values and every score (numbers,
    empty where not measured): the data behind the sweep figures."""
    rows = []
    for base, label in bases.items():
        for model, info in sweeps.items():
            res = _result(results, base, model)
            row = {"base": label, "sweep": info["sweep"], "point": model}
            row.update({f"axis:{k}": v for k, v in info["point"].items()})
            row.update({"AVG": res.get("AVG"), "MT": res.get("MT")})
            for direction in directions:
                scores = (res.get("translation") or {}).get(direction) or {}
                for column, key in METRIC_COLUMNS:
                    row[f"{direction} {column}"] = scores.get(key)
            rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["base", "sweep", "point", "AVG", "MT"])


def add_intervals(df: pd.DataFrame, intervals: pd.DataFrame | None, base_ids: dict,
                  model_col: str, renames: dict | None = None) -> pd.DataFrame:
    """``df`` with "<score> lo" / "<score> hi" (the interval) and "<score> diff lo" /
    "<score> diff hi" (the difference to the base model's) for every score column that has
    an interval; ``base_ids`` maps the ``base`` column's values to base ids, ``renames`` an
    interval score name to its column here (categories: "category:<cat>")."""
    if intervals is None or df.empty:
        return df
    look = {(r["base"], r["model"], r["score"]): r for r in intervals.to_dict("records")}
    renames = renames or {}
    out = df.copy()
    scores = list(dict.fromkeys(intervals["score"]))
    for score in scores:  # MT is both a score and a category: both columns get it
        columns = [c for c in dict.fromkeys((score, renames.get(score))) if c in out.columns]
        rows = [look.get((base_ids[b], m, score)) or {}
                for b, m in zip(out["base"], out[model_col])]
        for column in columns:
            for suffix, key in ((" lo", "lo"), (" hi", "hi"), (" diff lo", "diff_lo"),
                                (" diff hi", "diff_hi")):
                out[column + suffix] = [finite(r.get(key)) for r in rows]
    return out


def model_kind(model: str, directions: list, sweeps: dict, points: dict | None = None) -> str:
    return ("base" if model == "base" else "cpt" if model in directions
            else "sweep" if model in sweeps else "search" if model in (points or {}) else "merge")


def dev_columns(res: dict, categories: list[str]) -> dict:
    """A model's dev-split scores (its evaluation JSON's ``dev``) as scores.csv columns: AVG,
    MT, the categories, and the translation columns it scored (report.budget.maximise)."""
    dev = res.get("dev") or {}
    out = {f"{DEV_PREFIX}AVG": finite(dev.get("AVG")), f"{DEV_PREFIX}MT": finite(dev.get("MT"))}
    for cat in categories:
        out[f"{DEV_PREFIX}category:{cat}"] = finite((dev.get("categories") or {}).get(cat))
    for direction, scores in (dev.get("translation") or {}).items():
        for column, key in METRIC_COLUMNS:
            out[f"{DEV_PREFIX}{direction} {column}"] = finite(scores.get(key))
    return out


def scores_table(results: dict, bases: dict, models: dict[str, list[str]] | list[str], labels: dict,
                 directions: list, sweeps: dict, points: dict | None = None) -> pd.DataFrame:
    """Every score of every model, unrounded (empty where not measured): one row per base and
    model (``models``: base -> its models), with its kind (base, cpt, merge, sweep, search),
    display label, sweep and search (``points``: a searches' front point -> its search); the
    dev split's scores ("dev ..." columns) when any evaluation scored it."""
    categories = list(dict.fromkeys(cat for res in results.values()
                                    for cat in res.get("categories") or {}))
    with_dev = any(res.get("dev") for res in results.values())
    rows, models = [], per_base(models, bases)
    for base, base_label in bases.items():
        for model in models[base]:
            res = _result(results, base, model)
            kind = model_kind(model, directions, sweeps, points)
            label = {"base": "base model", "cpt": f"CPT {model}"}.get(kind) or labels.get(model, model)
            row = {"base": base, "base_label": base_label, "model": model, "label": label,
                   "kind": kind, "sweep": sweeps.get(model, {}).get("sweep", ""),
                   "search": (points or {}).get(model, ""),
                   "AVG": finite(res.get("AVG")), "MT": finite(res.get("MT"))}
            for direction in directions:
                scores = (res.get("translation") or {}).get(direction) or {}
                for column, key in METRIC_COLUMNS:
                    row[f"{direction} {column}"] = finite(scores.get(key))
            for cat in categories:
                row[f"category:{cat}"] = finite((res.get("categories") or {}).get(cat))
            if with_dev:
                row.update(dev_columns(res, categories))
            rows.append(row)
    return pd.DataFrame(rows)


def write_table(df: pd.DataFrame, md_path, csv_path, notes: Notes | list | None = None, *,
                tex_path=None, html_path=None, title: str = "", mark_columns=None,
                group: str | None = "base", blank_repeats: int = 1, across: str = "rows",
                csv_df: pd.DataFrame | None = None) -> None:
    """CSV (plain; ``csv_df`` instead of ``df`` where given), Markdown, and where asked LaTeX
    and HTML, with the best / second per ``group`` marked in ``mark_columns`` (none marked
    when None)."""
    lines = notes.lines() if isinstance(notes, Notes) else list(notes or [])
    mark = tables.marks(df, mark_columns, group, across) if mark_columns else {}
    legend = [tables.legend("italic")] if mark else []
    legend_u = [tables.legend("underlined")] if mark else []  # LaTeX, HTML
    with atomic_open(csv_path) as fh:  # plain numbers: no marks
        (df.map(tables.plain) if csv_df is None else csv_df).to_csv(fh, index=False)
    with atomic_open(md_path) as fh:
        fh.write(tables.markdown(df, mark))
        fh.write(markdown_notes(lines + legend))
    if tex_path:
        with atomic_open(tex_path) as fh:
            fh.write(tables.latex(df, mark, group, notes=lines + legend_u,
                                  blank_repeats=blank_repeats))
    if html_path:
        with atomic_open(html_path) as fh:
            fh.write(tables.html_table(df, mark, title, lines + legend_u))


INTERVAL_COLUMNS = ["base", "model", "score", "value", "lo", "hi", "diff", "diff_lo",
                    "diff_hi", "excludes_zero"]


def stat_inputs(categories: dict, directions: list) -> tuple[dict, dict]:
    """The categories' (dataset, metric) members and each direction's target language, as
    ``stats`` takes them."""
    return ({cat: [tuple(m) for m in members] for cat, members in categories.items()},
            {d: languages(d)[1] for d in directions})


def write_findings(job: AggregateJob, results: dict, bases: dict, merges: dict) -> None:
    """findings.md / findings.csv: the paper's pattern checked by paired intervals."""
    found = findings.check(results, findings.paper_findings(
        bases, job.directions, job.table1_merge, merges[job.table1_merge]),
        *stat_inputs(job.categories, job.directions), job.intervals)
    findings.write(found, job.outputs["findings_md"], job.outputs["findings_csv"], job.intervals)


def intervals_table(results: dict, bases: dict, models: dict[str, list[str]] | list[str], categories: dict,
                    directions: list, settings: dict) -> pd.DataFrame:
    """Every score of every model (``models``: base -> its models) with its paired-bootstrap
    interval and, for every model but the base model, the difference to the base model with
    its interval (``stats``)."""
    cats, langs = stat_inputs(categories, directions)
    settings = {**INTERVAL_DEFAULTS, **(settings or {})}
    models = per_base(models, bases)
    rows = [row for base in bases
            for row in base_intervals(results, cats, langs, base, models[base], **settings)]
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


def significance_note(settings: dict) -> str:
    settings = {**INTERVAL_DEFAULTS, **(settings or {})}
    return (f"{SIG_MARK}: the difference to the base model's score excludes 0 "
            f"({settings['confidence']:.0%} paired bootstrap interval, "
            f"{settings['resamples']} resamples; results/tables/intervals.csv)")


def interval_lookup(intervals: pd.DataFrame, bases: dict, labels: dict) -> dict:
    """{(base label, model label, score): interval row} (labels as the tables show them)."""
    return {(bases[r["base"]], labels.get(r["model"], r["model"]), r["score"]): r
            for r in intervals.to_dict("records")}


def _significant(row) -> bool:
    return row is not None and row.get("excludes_zero") is True


def star_table1(df: pd.DataFrame, lookup: dict) -> pd.DataFrame:
    """Table 1 with SIG_MARK on every cell whose difference to the base model excludes 0."""
    out = df.copy()
    for r in out.index:
        for col in out.columns[2:]:
            if _significant(lookup.get((out.at[r, "base"], out.at[r, "model"], col))):
                out.at[r, col] = f"{out.at[r, col]}{SIG_MARK}"
    return out


def star_table2(df: pd.DataFrame, lookup: dict) -> pd.DataFrame:
    """Table 2 ("AVG / MT" per merge) with SIG_MARK on each significant part."""
    out = df.copy()
    for r in out.index:
        for col in out.columns[2:]:  # "base model" is the reference itself
            cells = parts(out.at[r, col])
            for k, score in enumerate(("AVG", "MT")[:len(cells)]):
                if _significant(lookup.get((out.at[r, "base"], col, score))):
                    cells[k] += SIG_MARK
            out.at[r, col] = PART_SEP.join(cells)
    return out


def pm_table(df: pd.DataFrame, lookup: dict, key, scores: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ± variant of a table (value ± half the interval's width) for Markdown, and its
    CSV with each score's value, lower and upper bound. ``key(row, column)`` gives the
    (base label, model label, score) of each part of a cell."""
    shown, csv = df.copy(), []
    for r in df.index:
        row = {c: df.at[r, c] for c in df.columns if c not in scores}
        for col in scores:
            texts = []
            for k, text in enumerate(parts(df.at[r, col])):
                iv = lookup.get(key(df.loc[r], col, k)) or {}
                lo, hi = iv.get("lo"), iv.get("hi")
                name = col if len(parts(df.at[r, col])) == 1 else f"{col} {('AVG', 'MT')[k]}"
                row.update({name: finite(iv.get("value")), f"{name} lo": finite(lo),
                            f"{name} hi": finite(hi)})
                ok = finite(lo) is not None and finite(hi) is not None
                texts.append(f"{text} ± {fmt((hi - lo) / 2, tables.kind(col))}" if ok else text)
            shown.at[r, col] = PART_SEP.join(texts)
        csv.append(row)
    return shown, pd.DataFrame(csv)


def _out(job: AggregateJob, name):
    return job.outputs.get(name)


def _table1_key(row, col, k):
    return row["base"], row["model"], col


def _table2_key(row, col, k):
    return row["base"], col, ("AVG", "MT")[k]


def write_interval_tables(job: AggregateJob, results: dict, bases: dict, merges: dict, models: dict,
                          t1: pd.DataFrame, t2: pd.DataFrame) -> tuple:
    """Write intervals.csv and the ± variants of Tables 1 and 2; return (intervals, Table 1
    and Table 2 with SIG_MARK on their significant cells, the significance note)."""
    settings = job.intervals
    intervals = intervals_table(results, bases, models, job.categories,
                                job.directions, settings)
    with atomic_open(job.outputs["intervals_csv"]) as fh:
        intervals.to_csv(fh, index=False)
    look1 = interval_lookup(intervals, bases, {m: model_label(m, merges) for ms in models.values() for m in ms})
    look2 = interval_lookup(intervals, bases, {**merges, "base": "base model"})
    t1_scores, t2_scores = list(t1.columns[2:]), list(t2.columns[1:])
    t1, t2 = star_table1(t1, look1), star_table2(t2, look2)
    sig_notes = [significance_note(settings)]
    for name, df, look, scores, key in (("table1", t1, look1, t1_scores, _table1_key),
                                        ("table2", t2, look2, t2_scores, _table2_key)):
        shown, csv = pm_table(df, look, key, scores)
        write_table(shown, job.outputs[f"{name}_pm_md"], job.outputs[f"{name}_pm_csv"],
                    ["±: half the width of the paired bootstrap interval; the bounds are in "
                     "the CSV", *sig_notes], csv_df=csv)
    return intervals, t1, t2, sig_notes


def write_paper_tables(job: AggregateJob, t1: pd.DataFrame, t2: pd.DataFrame, tc: pd.DataFrame,
                       notes: tuple[Notes, Notes, Notes], sig_notes: list[str]) -> None:
    """Tables 1 and 2 and the category table, with their notes."""
    notes1, notes2, notes_c = notes
    write_table(t1, job.outputs["table1_md"], job.outputs["table1_csv"], notes1.lines() + sig_notes,
                mark_columns=list(t1.columns[2:]), tex_path=_out(job, "table1_tex"),
                html_path=_out(job, "table1_html"), title="Table 1")
    write_table(t2, job.outputs["table2_md"], job.outputs["table2_csv"], notes2.lines() + sig_notes,
                mark_columns=list(t2.columns[1:]), tex_path=_out(job, "table2_tex"),
                html_path=_out(job, "table2_html"), title="Table 2: AVG / MT", across="columns")
    write_table(tc, job.outputs["categories_md"], job.outputs["categories_csv"], notes_c,
                html_path=_out(job, "categories_html"), title="Every llm-jp-eval category")


def write_figure_data(job: AggregateJob, results: dict, bases: dict, models: dict, labels: dict,
                      sweeps: dict, intervals: pd.DataFrame | None) -> None:
    """sweeps.csv and scores.csv: the figures' data, with the intervals where computed."""
    directions = job.directions
    with atomic_open(job.outputs["sweeps_csv"]) as fh:
        sweep = sweep_table(results, bases, sweeps, directions)
        add_intervals(sweep, intervals, {v: k for k, v in bases.items()}, "point").to_csv(
            fh, index=False)
    if _out(job, "scores_csv"):
        with atomic_open(job.outputs["scores_csv"]) as fh:
            scores = scores_table(results, bases, models, labels, directions, sweeps,
                                  {p: info["search"] for p, info in job.points.items()})
            cats = {c[len("category:"):]: c for c in scores.columns if c.startswith("category:")}
            add_intervals(scores, intervals, {b: b for b in bases}, "model", cats).to_csv(
                fh, index=False)


def write_reference_tables(job: AggregateJob, reference: dict, t1: pd.DataFrame, t2: pd.DataFrame) -> None:
    """table{1,2}_vs_reference: ours, the reference's numbers and the deltas, row by row."""
    for name, ours, keys, scores in (("table1", t1, ["base", "model"], list(t1.columns[2:])),
                                     ("table2", t2, ["base"], list(t2.columns[1:]))):
        notes = [f"{reference['label']}: {reference['source']}"] if reference["source"] else []
        both = compare(ours, reference, name, keys, scores, notes)
        write_table(both, job.outputs[f"{name}_ref_md"], job.outputs[f"{name}_ref_csv"], notes,
                    tex_path=job.outputs[f"{name}_ref_tex"],
                    html_path=job.outputs[f"{name}_ref_html"],
                    title=f"{name.replace('table', 'Table ')}: ours, {reference['label']} "
                          "and the difference", group="base", blank_repeats=len(keys))


def log_tables(logger, results: dict, t1: pd.DataFrame, t2: pd.DataFrame,
               tc: pd.DataFrame) -> None:
    for (base, model), res in results.items():
        if zeroed_categories(res):
            logger.warning("%s / %s: AVG counts %s as 0.0 (no score), as llm-jp-eval's does",
                           base, model, ", ".join(zeroed_categories(res)))
    logger.info("Table 1\n%s\nTable 2\n%s\nCategories\n%s", t1.to_string(index=False),
                t2.to_string(index=False), tc.to_string(index=False))


def check_dev(results: dict, job: AggregateJob) -> None:
    """With a dev split to select on (``job.dev``), every evaluation JSON must hold its dev
    scores: one from before (or from another dev setting) is refused, naming the file."""
    if not job.dev:
        return
    for run, res in results.items():
        dev = res.get("dev")
        if not dev or dev.get("dataset_dir") != job.dev["dataset_dir"] \
                or dev.get("max_samples") != job.dev["max_samples"]:
            raise WorkflowError(
                f"{job.evals[run]}: no dev-split scores for {job.dev['dataset_dir']} with "
                f"max_samples {job.dev['max_samples']} (report.budget.select_on: dev); rerun its "
                f"evaluation (delete the file or run snakemake with --forcerun evaluate)")


def main(job: AggregateJob) -> None:
    logger = get_logger("aggregate", job.log)
    reference = load_reference(job.reference) if job.reference else None
    results = load_results(job.evals)
    bases, merges = job.bases, job.merges
    models = {b: list(dict.fromkeys(r["model"] for r in job.runs if r["base"] == b)) for b in bases}
    sweeps = job.sweeps
    labels = {**merges, **{m: info["label"] for m, info in sweeps.items()},
              **{p: info["label"] for p, info in job.points.items()}}
    check_dev(results, job)
    notes = Notes(), Notes(), Notes()
    t1 = table1(results, bases, merges, job.directions, job.table1_merge, notes[0])
    t2 = table2(results, bases, merges, notes[1])
    tc = category_table(results, bases, labels, models, notes[2])
    intervals, sig_notes = None, []
    if _out(job, "intervals_csv"):
        intervals, t1, t2, sig_notes = write_interval_tables(job, results, bases, merges,
                                                             models, t1, t2)
    if _out(job, "findings_md"):
        write_findings(job, results, bases, merges)
    write_paper_tables(job, t1, t2, tc, notes, sig_notes)
    write_figure_data(job, results, bases, models, labels, sweeps, intervals)
    if reference:
        write_reference_tables(job, reference, t1, t2)
    log_tables(logger, results, t1, t2, tc)
