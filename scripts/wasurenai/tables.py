"""Render result tables as Markdown, LaTeX and HTML, with the best value per group marked.

A table is a DataFrame of display strings (``aggregate.fmt``: "0.395", "12.5", "n/a"); a
cell may hold several scores ("0.395 / 0.824", Table 2), each ranked on its own. Ranking
uses the displayed values, so two cells that read the same get the same mark: the highest
value in a group (rows sharing ``group``, e.g. one base model) is *best* (bold), the next
distinct value *second* (underlined in LaTeX and HTML, italic in Markdown). Every score in
our tables is better when higher; n/a is never ranked.
"""
from __future__ import annotations

import html
import math
import re

import pandas as pd

NA = "n/a"
ZERO_MARK = "†"  # a category llm-jp-eval scores 0.0 for want of a score, and an AVG counting it
SIG_MARK = "*"  # the difference to the base model's score excludes 0 (paired bootstrap interval)
MARKS = ZERO_MARK + SIG_MARK
PART_SEP = " / "
BEST, SECOND = "best", "second"
# Translation metrics, as the tables name them, with the evaluation JSON's keys.
METRIC_COLUMNS = (("BERTScore", "bert_score"), ("BLEU", "bleu"), ("COMET", "comet"))
METRICS = tuple(name for name, _ in METRIC_COLUMNS)
DEV_PREFIX = "dev "  # scores.csv's dev-split columns: "dev AVG", "dev MT", "dev category:<cat>", ...


def legend(second: str) -> str:
    """The note under a marked table; ``second`` is how the second best is shown."""
    return f"Bold: best per base; {second}: second best (on the displayed values)."


def finite(value) -> float | None:
    """``value`` as a float if it is a finite number (not a bool), else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def fmt(value, kind: str = "score") -> str:
    """A score (0-1) with 3 decimals, BLEU with 3 significant digits; None/NaN/inf -> n/a."""
    value = finite(value)
    if value is None:
        return NA
    if kind != "bleu":
        return f"{value:.3f}"
    digits = 1 if value == 0 else min(3, max(0, 2 - math.floor(math.log10(abs(value)))))
    return f"{value:.{digits}f}"


def kind(column: str) -> str:
    """The ``fmt`` kind of a table column: BLEU columns have their own digits."""
    return "bleu" if column.endswith("BLEU") else "score"


def fmt_signed(value, kind_: str = "score") -> str:
    """A change with its sign, as displayed: "+0.021", "-1.30", never "-0.000"."""
    if finite(value) is None:
        return NA
    text = fmt(abs(value), kind_)
    if float(text) == 0:
        return text
    return ("+" if value > 0 else "-") + text


def number(text) -> float | None:
    """A displayed score as a float; None for n/a, text or a non-finite value."""
    try:
        value = float(str(text).strip().rstrip(MARKS))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def plain(cell):
    """A cell without the marks (†, *): what the CSVs hold."""
    if not isinstance(cell, str):
        return cell
    return PART_SEP.join(p.rstrip(MARKS) if number(p) is not None else p for p in parts(cell))


def parts(cell) -> list[str]:
    return str(cell).split(PART_SEP)


def marks(df: pd.DataFrame, columns: list[str], group: str | None = "base",
          across: str = "rows") -> dict:
    """{(row index, column, part index): BEST | SECOND} for the score cells of ``columns``.

    ``across="rows"`` (Table 1) ranks each column among the rows of a group;
    ``across="columns"`` (Table 2) ranks each row's cells against each other.
    """
    if across == "columns":
        cohorts = [[(r, c) for c in columns] for r in df.index]
    else:
        groups = df.groupby(group, sort=False).groups.values() if group else [df.index]
        cohorts = [[(r, c) for r in rows] for rows in groups for c in columns]
    out = {}
    for cohort in cohorts:
        width = max(len(parts(df.at[r, c])) for r, c in cohort)
        for k in range(width):
            values = {}
            for r, c in cohort:
                cell = parts(df.at[r, c])
                value = number(cell[k]) if k < len(cell) else None
                if value is not None:
                    values[(r, c)] = value
            ranked = sorted(set(values.values()), reverse=True)
            for (r, c), value in values.items():
                if value == ranked[0]:
                    out[(r, c, k)] = BEST
                elif len(ranked) > 1 and value == ranked[1]:
                    out[(r, c, k)] = SECOND
    return out


def _styled(df: pd.DataFrame, mark: dict, style) -> pd.DataFrame:
    """A copy of ``df`` with every score part passed through ``style(text, kind)``, kind
    BEST, SECOND or None (escaping for LaTeX and HTML goes there too)."""
    out = df.copy().astype(str)
    for r in df.index:
        for column in df.columns:
            out.at[r, column] = PART_SEP.join(
                style(text, mark.get((r, column, k)))
                for k, text in enumerate(parts(df.at[r, column])))
    return out


def markdown(df: pd.DataFrame, mark: dict | None = None) -> str:
    """GitHub Markdown; best **bold**, second _italic_."""
    def style(text, kind):
        return f"**{text}**" if kind == BEST else f"_{text}_" if kind == SECOND else text
    shown = _styled(df, mark or {}, style)
    return shown.to_markdown(index=False, tablefmt="github", disable_numparse=True) + "\n"


TEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
               "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
               "\\": r"\textbackslash{}", "Δ": r"$\Delta$"}
NEGATIVE = re.compile(r"^-(?=\d)")


def tex_escape(text) -> str:
    text = "".join(TEX_SPECIAL.get(c, c) for c in str(text))
    return NEGATIVE.sub("$-$", text)


def latex(df: pd.DataFrame, mark: dict | None = None, group: str | None = "base",
          column_groups: bool = True, notes: list[str] = (), blank_repeats: int = 1) -> str:
    r"""A booktabs ``tabular``: best \textbf, second \underline. Rows of one group are
    separated from the next by a \midrule; in the first ``blank_repeats`` columns a value
    equal to the row above's (and all columns before it equal too) is printed once. With
    ``column_groups``, columns named "<group> <name>" (e.g. "ja-en BLEU") get a spanning
    header row over their names, as the paper's Table 1."""
    mark = mark or {}

    def style(text, kind):
        text = tex_escape(text)
        return rf"\textbf{{{text}}}" if kind == BEST else rf"\underline{{{text}}}" if kind == SECOND else text

    shown = _styled(df, mark, style)
    columns = list(df.columns)
    spans = []  # [(top label, [columns])] in order
    for column in columns:
        top, _, rest = column.partition(" ")
        top = top if column_groups and rest and sum(c.startswith(top + " ") for c in columns) > 1 else ""
        if spans and spans[-1][0] == top and top:
            spans[-1][1].append(column)
        else:
            spans.append((top, [column]))
    align = "".join("l" if df[c].map(lambda v: number(parts(v)[0]) is None).all() else "r"
                    for c in columns)
    lines = ["% requires \\usepackage{booktabs}", *(f"% {n}" for n in notes),
             f"\\begin{{tabular}}{{{align}}}", r"\toprule"]
    if any(top for top, _ in spans):
        heads, rules, at = [], [], 1
        for top, cols in spans:
            if top:
                heads.append(rf"\multicolumn{{{len(cols)}}}{{c}}{{{tex_escape(top)}}}")
                rules.append(rf"\cmidrule(lr){{{at}-{at + len(cols) - 1}}}")
            else:
                heads.extend([""] * len(cols))
            at += len(cols)
        lines += [" & ".join(heads) + r" \\", " ".join(rules)]
        names = [tex_escape(c.partition(" ")[2] if top else c) for top, cols in spans for c in cols]
    else:
        names = [tex_escape(c) for c in columns]
    lines += [" & ".join(names) + r" \\", r"\midrule"]
    previous, above = None, None
    for r in df.index:
        cells = list(shown.loc[r])
        if group:
            key = df.at[r, group]
            if previous is not None and key != previous:
                lines.append(r"\midrule")
            previous = key
        row = [df.at[r, c] for c in columns]
        for i in range(blank_repeats):
            if above is None or row[: i + 1] != above[: i + 1]:
                break
            cells[i] = ""
        above = row
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def html_table(df: pd.DataFrame, mark: dict | None = None, title: str = "",
               notes: list[str] = ()) -> str:
    """A standalone HTML page with the table (best <b>, second <u>) and its notes."""
    def style(text, kind):
        text = html.escape(text)
        return f"<b>{text}</b>" if kind == BEST else f"<u>{text}</u>" if kind == SECOND else text

    shown = _styled(df, mark or {}, style)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = "\n".join("<tr>" + "".join(
        f'<td class="{"num" if number(parts(df.at[r, c])[0]) is not None else "txt"}">{shown.at[r, c]}</td>'
        for c in df.columns) + "</tr>" for r in df.index)
    notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;font-size:14px}table{border-collapse:collapse}"
        "th,td{padding:2px 8px;border-bottom:1px solid #ddd}td.num{text-align:right}"
        "th{border-bottom:2px solid #333;text-align:left}</style></head><body>\n"
        f"<h3>{html.escape(title)}</h3>\n<table>\n<tr>{head}</tr>\n{body}\n</table>\n"
        f"<ul>{notes_html}</ul>\n</body></html>\n"
    )
