"""The report's figures (matplotlib, Agg): Figure 2, the AVG-MT trade-off, retention, training loss.

Each figure is written as PNG and SVG, each atomically (a temporary sibling, then renamed).
They read the aggregate's CSVs (``sweeps.csv``, ``scores.csv``) and the training logs.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .common import atomic_path, read_csv  # noqa: E402
from .tables import finite  # noqa: E402

AVG_LABEL = "AVG (llm-jp-eval, 0–1)"
MT_LABEL = "MT (llm-jp-eval, 0–1)"
BLEU_LABEL = "BLEU (0–100)"
DIRECTION_COLOURS = {"ja-en": "tab:blue", "en-ja": "tab:orange"}
SERIES_STYLES = ["-", "--", ":", "-."]
AXIS_TITLES = {"base_share": "base share s (the base model's weight)"}

plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "svg.hashsalt": "wasurenai",
                     "svg.fonttype": "none"})


def save(fig, png_path, svg_path, dpi: int = 150) -> None:
    """PNG and SVG, each written to a temporary sibling and renamed."""
    for path, fmt in ((png_path, "png"), (svg_path, "svg")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight",
                        metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)


def _empty(message: str):
    fig, ax = plt.subplots(figsize=(5, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig


# --- Figure 2 -------------------------------------------------------------------------------

def sweep_axes(rows: pd.DataFrame) -> tuple[str | None, list[str]]:
    """(x axis, the other axes that vary) of one sweep's rows: base_share if swept."""
    axes = [c for c in rows.columns if c.startswith("axis:") and rows[c].notna().any()]
    if not axes:
        return None, []
    x = "axis:base_share" if "axis:base_share" in axes else axes[0]
    others = [c for c in axes if c != x and rows[c].nunique() > 1]
    return x, others


def figure2(sweeps: pd.DataFrame, scores: pd.DataFrame | None, info: dict, directions: list[str]):
    """Per base (rows) and sweep (columns): AVG (left axis) and BLEU per direction (right
    axis) against the sweep's axis (base_share when swept). The base model is drawn at
    s = 1 (hollow markers), where every base_share merge is the base model itself."""
    if sweeps.empty:
        return _empty("No sweeps in this configuration: nothing to plot for Figure 2.")
    bases = list(dict.fromkeys(sweeps["base"]))
    names = [s for s in info if s in set(sweeps["sweep"])] or list(dict.fromkeys(sweeps["sweep"]))
    fig, grid = plt.subplots(len(bases), len(names), figsize=(4.6 * len(names), 3.3 * len(bases)),
                             squeeze=False, constrained_layout=True, sharey="row")
    series_handles: dict[str, Line2D] = {}
    for i, base in enumerate(bases):
        bleu_axes = []
        for j, name in enumerate(names):
            ax = grid[i][j]
            ax2 = ax.twinx()
            ax.set_zorder(ax2.get_zorder() + 1)  # AVG drawn over BLEU
            ax.patch.set_visible(False)
            bleu_axes.append(ax2)
            rows = sweeps[(sweeps["base"] == base) & (sweeps["sweep"] == name)]
            x, others = sweep_axes(rows)
            series_handles.update(_sweep_series(ax, ax2, rows, x, others, directions))
            if x == "axis:base_share" and scores is not None:
                _base_model_at_share_1(ax, ax2, scores, base, directions)
                ax.set_xlim(-0.03, 1.03)
            _label_panel(ax, ax2, f"{base}: {_sweep_title(name, info.get(name, {}))}", x,
                         first=j == 0, last=j == len(names) - 1)
        _min_span(grid[i][0], MIN_AVG_SPAN)
        _min_span(bleu_axes[0], MIN_BLEU_SPAN, others=bleu_axes[1:], floor=-0.05 * MIN_BLEU_SPAN)
    handles = _figure2_legend(sweeps, directions, series_handles)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False)
    return fig


def _sweep_series(ax, ax2, rows: pd.DataFrame, x: str | None, others: list[str],
                  directions: list[str]) -> dict[str, Line2D]:
    """One sweep's curves: AVG on ``ax``, BLEU per direction on ``ax2``, a line style per
    value of the other swept axes; returns a legend handle per such value."""
    handles = {}
    groups = rows.groupby(others, sort=True, dropna=False) if others else [((), rows)]
    for k, (key, part) in enumerate(groups):
        style = SERIES_STYLES[k % len(SERIES_STYLES)]
        part = part.sort_values(x) if x else part
        xs = part[x] if x else np.zeros(len(part))
        ax.plot(xs, part["AVG"], style, color="black", marker="o", ms=4)
        _band(ax, xs, part, "AVG", "black")
        for direction in directions:
            ax2.plot(xs, part[f"{direction} BLEU"], style, color=DIRECTION_COLOURS.get(direction),
                     marker="s", ms=4)
            _band(ax2, xs, part, f"{direction} BLEU", DIRECTION_COLOURS.get(direction))
        if others:
            key = key if isinstance(key, tuple) else (key,)
            text = ", ".join(f"{c.removeprefix('axis:')}={v:g}" for c, v in zip(others, key))
            handles[text] = Line2D([], [], color="grey", linestyle=style)
    return handles


def _base_model_at_share_1(ax, ax2, scores: pd.DataFrame, base: str, directions: list[str]) -> None:
    """The base model's AVG and BLEU as hollow markers at base share 1 (with its intervals)."""
    ref = scores[(scores["base_label"] == base) & (scores["kind"] == "base")]
    if ref.empty:
        return
    ref = ref.iloc[0]
    ax.plot([1.0], [ref["AVG"]], "o", mfc="none", color="black", ms=7)
    _bar(ax, 1.0, ref, "AVG", "black")
    for direction in directions:
        ax2.plot([1.0], [ref[f"{direction} BLEU"]], "s", mfc="none", ms=7,
                 color=DIRECTION_COLOURS.get(direction))
        _bar(ax2, 1.0, ref, f"{direction} BLEU", DIRECTION_COLOURS.get(direction))


def _sweep_title(name: str, meta: dict) -> str:
    label, method = meta.get("label", name), meta.get("method", "")
    shown = f" (mergekit {method})" if method and method != label.lower() else ""
    return f"{label} sweep{shown}"


def _label_panel(ax, ax2, title: str, x: str | None, first: bool, last: bool) -> None:
    """Title, margins, axis labels and grid of one panel; the BLEU scale's ticks only on a
    row's last panel, the AVG label only on its first."""
    ax.set_title(title)
    ax.margins(y=0.1)
    ax2.margins(y=0.1)
    axis_name = x.removeprefix("axis:") if x else "grid point"
    ax.set_xlabel(AXIS_TITLES.get(axis_name, axis_name))
    if first:
        ax.set_ylabel(AVG_LABEL)
    if last:
        ax2.set_ylabel(BLEU_LABEL)
    else:  # one BLEU scale per row: its ticks on the row's last panel
        ax2.tick_params(labelright=False)
    ax.grid(alpha=0.3)


def _figure2_legend(sweeps: pd.DataFrame, directions: list[str],
                    series_handles: dict[str, Line2D]) -> list:
    handles = [Line2D([], [], color="black", marker="o", label="AVG (left axis)")]
    handles += [Line2D([], [], color=DIRECTION_COLOURS.get(d), marker="s", label=f"BLEU {d} (right axis)")
                for d in directions]
    handles += [Line2D([], [], color="grey", marker="o", mfc="none", linestyle="none",
                       label="base model (= base share 1)")]
    if "AVG lo" in sweeps.columns and sweeps["AVG lo"].notna().any():
        handles += [Patch(color="grey", alpha=BAND_ALPHA, label="95 % paired bootstrap interval")]
    handles += [Line2D([], [], color=h.get_color(), linestyle=h.get_linestyle(), label=t)
                for t, h in series_handles.items()]
    return handles


BAND_ALPHA = 0.15


def _band(ax, xs, part: pd.DataFrame, column: str, colour) -> None:
    """The interval of ``column`` as a band, where the table has its bounds."""
    lo, hi = f"{column} lo", f"{column} hi"
    if lo in part.columns and part[[lo, hi]].notna().all().all() and len(part) > 1:
        ax.fill_between(xs, part[lo], part[hi], color=colour, alpha=BAND_ALPHA, lw=0)
    elif lo in part.columns:
        for x, (_, row) in zip(xs, part.iterrows()):
            _bar(ax, x, row, column, colour)


def _bar(ax, x, row, column: str, colour) -> None:
    lo, hi = row.get(f"{column} lo"), row.get(f"{column} hi")
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        ax.plot([x, x], [lo, hi], color=colour, alpha=0.5, lw=1.5)


MIN_AVG_SPAN = 0.02  # two points: differences far below that are noise, not a trend
MIN_BLEU_SPAN = 2.0


def _min_span(ax, span: float, others=(), floor: float | None = None) -> None:
    """One y range for ``ax`` and ``others`` (a row's panels), at least ``span`` wide, so a
    flat or one-point sweep does not zoom into rounding noise."""
    low = min(a.get_ylim()[0] for a in (ax, *others))
    high = max(a.get_ylim()[1] for a in (ax, *others))
    if high - low < span:
        mid = (low + high) / 2
        low, high = mid - span / 2, mid + span / 2
    if floor is not None and low < floor:  # BLEU is never below 0
        low, high = floor, max(high, floor + span)
    for a in (ax, *others):
        a.set_ylim(low, high)


# --- trade-off scatter with the Pareto frontier ----------------------------------------------

KIND_STYLE = {
    "base": {"marker": "*", "s": 160, "color": "black", "label": "base model"},
    "cpt": {"marker": "^", "s": 60, "color": "tab:red", "label": "CPT model"},
    "merge": {"marker": "s", "s": 45, "color": "tab:green", "label": "named merge (Table 2)"},
    "sweep": {"marker": "o", "s": 22, "color": "tab:purple", "label": "sweep point"},
    "search": {"marker": "D", "s": 40, "color": "tab:orange", "label": "search front point"},
}


def tradeoff(front: pd.DataFrame):
    """Per base: AVG against MT for every model, the Pareto frontier drawn and its models named."""
    if front.empty:
        return _empty("No evaluated models.")
    bases = list(dict.fromkeys(front["base_label"]))
    fig, grid = plt.subplots(1, len(bases), figsize=(5.6 * len(bases), 4.8), squeeze=False,
                             constrained_layout=True)
    sweep_names = list(dict.fromkeys(front.loc[front["kind"] == "sweep", "label"].str.split(" ").str[0]))
    sweep_colours = {n: plt.cm.Purples(0.45 + 0.5 * k / max(1, len(sweep_names) - 1))
                     for k, n in enumerate(sweep_names)}
    handles = {}
    for ax, base in zip(grid[0], bases):
        rows = front[(front["base_label"] == base) & front["AVG"].map(finite).notna() & front["MT"].map(finite).notna()]
        on = rows[rows["pareto"]].sort_values("MT")
        if not on.empty:
            handles["frontier"] = ax.plot(on["MT"], on["AVG"], "-", color="grey", lw=1, zorder=2,
                                          label="Pareto frontier (ringed)")[0]
            ax.scatter(on["MT"], on["AVG"], s=150, facecolors="none", edgecolors="grey", zorder=5)
        for kind, style in KIND_STYLE.items():
            part = rows[rows["kind"] == kind]
            if kind == "sweep":
                for name in sweep_names:
                    sub = part[part["label"].str.split(" ").str[0] == name]
                    if not sub.empty:
                        handles[f"sweep {name}"] = ax.scatter(
                            sub["MT"], sub["AVG"], marker="o", s=style["s"], alpha=0.85,
                            color=sweep_colours[name], label=f"{name} sweep point", zorder=3)
            elif not part.empty:
                handles[kind] = ax.scatter(part["MT"], part["AVG"], marker=style["marker"],
                                           s=style["s"], color=style["color"], label=style["label"],
                                           zorder=4)
        bounds = ["AVG lo", "AVG hi", "MT lo", "MT hi"]
        if set(bounds) <= set(rows.columns) and rows[bounds].notna().all(axis=1).any():
            r = rows[rows[bounds].notna().all(axis=1)]
            ax.errorbar(r["MT"], r["AVG"], xerr=[r["MT"] - r["MT lo"], r["MT hi"] - r["MT"]],
                        yerr=[r["AVG"] - r["AVG lo"], r["AVG hi"] - r["AVG"]], fmt="none",
                        ecolor="grey", alpha=0.45, lw=0.8, zorder=1)
            handles["interval"] = Line2D([], [], color="grey", alpha=0.45,
                                         label="95 % paired bootstrap interval")
        ax.set_xlabel(MT_LABEL + "  →  better translation")
        ax.set_ylabel(AVG_LABEL + "  →  less forgetting")
        ax.set_title(f"{base}: general ability vs translation")
        ax.grid(alpha=0.3)
        ax.margins(x=0.15, y=0.12)
    order = ["base", "cpt", "merge", *(f"sweep {n}" for n in sweep_names), "search", "frontier", "interval"]
    shown = [handles[k] for k in order if k in handles]
    fig.legend(handles=shown, loc="outside lower center", ncol=min(len(shown), 3), frameon=False)
    fig.canvas.draw()  # the final layout: labels are placed in its display coordinates
    fig.set_layout_engine("none")
    for ax, base in zip(grid[0], bases):
        rows = front[(front["base_label"] == base) & front["AVG"].map(finite).notna() & front["MT"].map(finite).notna()]
        named = rows[rows["pareto"] | ~rows["kind"].isin(("sweep", "search"))]
        place_labels(ax, named["MT"].to_numpy(), named["AVG"].to_numpy(), list(named["label"]),
                     points=(rows["MT"].to_numpy(), rows["AVG"].to_numpy()))
    return fig


OFFSETS = [(6, 4), (6, -10), (-6, 4), (-6, -10), (0, 9), (0, -14), (14, 12), (14, -18),
           (-14, 12), (-14, -18), (24, 0), (-24, 0), (30, 22), (30, -26), (-30, 22), (-30, -26),
           (45, 8), (-45, 8), (45, -14), (-45, -14)]


PAD = 3  # pixels of clearance around a label


def place_labels(ax, xs, ys, texts, points=None) -> None:
    """Label points without overlapping each other or the points: each label takes the first
    of a list of offsets whose box is free (in display coordinates), with a leader line when
    it had to move away; the least-overlapping offset when none is free."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    px, py = points if points is not None else (xs, ys)
    dots = [ax.transData.transform((x, y)) for x, y in zip(px, py)]
    taken = [(d[0] - 5, d[1] - 5, d[0] + 5, d[1] + 5) for d in dots]
    axes_box = ax.get_window_extent(renderer)
    order = sorted(range(len(texts)), key=lambda i: -ys[i])
    for i in order:
        best = None
        for dx, dy in OFFSETS:
            far = abs(dx) > 10 or abs(dy) > 14
            ann = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                              fontsize=7, ha="left" if dx >= 0 else "right", va="bottom",
                              arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.5} if far else None)
            ann.update_positions(renderer)
            box = Text.get_window_extent(ann, renderer)  # the text alone, not its leader line
            rect = (box.x0 - PAD, box.y0 - PAD, box.x1 + PAD, box.y1 + PAD)
            overlap = sum(_overlap(rect, t) for t in taken)
            outside = (box.x0 < axes_box.x0) or (box.x1 > axes_box.x1) or (box.y0 < axes_box.y0) \
                or (box.y1 > axes_box.y1)
            score = overlap + (1e6 if outside else 0)
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, ann, rect)
            else:
                ann.remove()
            if score == 0:
                break
        taken.append(best[2])


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


# --- retention heatmap -----------------------------------------------------------------------

def retention(ret: pd.DataFrame):
    """Per base: every CPT model and merge (rows) x category and AVG (columns), as % of the
    base model's score; red = forgotten, blue = gained, grey = n/a."""
    if ret.empty:
        return _empty("No CPT models or merges to compare with their base.")
    bases = list(dict.fromkeys(ret["base_label"]))
    columns = [c for c in ret.columns if c not in ("base", "base_label", "model", "label", "kind")]
    n_rows = max(len(ret[ret["base_label"] == b]) for b in bases)
    fig, grid = plt.subplots(1, len(bases), figsize=(0.62 * len(columns) * len(bases) + 3.2,
                                                    0.34 * n_rows + 1.8),
                             squeeze=False, constrained_layout=True)
    cmap = plt.get_cmap("RdBu").with_extremes(bad="lightgrey")
    norm = TwoSlopeNorm(vmin=50, vcenter=100, vmax=150)
    image = None
    for n, (ax, base) in enumerate(zip(grid[0], bases)):
        rows = ret[ret["base_label"] == base]
        values = rows[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        image = ax.imshow(np.ma.masked_invalid(np.clip(values, 50, 150)), cmap=cmap, norm=norm,
                          aspect="auto")
        for (r, c), value in np.ndenumerate(values):
            text = "n/a" if not math.isfinite(value) else f"{value:.0f}"
            dark = math.isfinite(value) and abs(value - 100) > 30
            ax.text(c, r, text, ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
        ax.set_xticks(range(len(columns)), columns, rotation=0)
        same_rows = n > 0 and list(rows["label"]) == list(ret[ret["base_label"] == bases[0]]["label"])
        ax.set_yticks(range(len(rows)), [] if same_rows else list(rows["label"]))
        ax.xaxis.tick_top()
        kinds = list(rows["kind"])
        for r in range(1, len(kinds)):  # CPT models | named merges | sweep points
            if kinds[r] != kinds[r - 1]:
                ax.axhline(r - 0.5, color="black", lw=1.2)
        if "AVG" in columns:
            ax.axvline(columns.index("AVG") - 0.5, color="black", lw=1.2)
        ax.set_title(f"{base}: score as % of the base model's", pad=18)
        ax.tick_params(length=0)
    cbar = fig.colorbar(image, ax=list(grid[0]), shrink=0.8, extend="both")
    cbar.set_label("% of the base model's score (100 = nothing forgotten)")
    return fig


# --- training loss ---------------------------------------------------------------------------

DEMO_COLOURS = {"pretrain": "black", "instruct": "tab:green"}
STAGES = {"pretrain": "pretraining from scratch", "instruct": "instruct tuning"}


def read_train_log(path) -> pd.DataFrame:
    """A train_log.csv: needs step and loss (other columns are ignored)."""
    return read_csv(path, ("step", "loss"))[["step", "loss"]].apply(pd.to_numeric, errors="coerce")


def training_loss(runs: list[dict], paths: list[str]):
    """Loss against optimizer step: one panel per base for its CPT runs (a line per
    direction), one for the demo's base-model training (pretraining, instruct tuning)."""
    if not runs:
        return _empty("No training logs (no CPT runs in this configuration).")
    panels: dict[str, list] = {}
    for run, path in zip(runs, paths):
        title = f"{run['label']}: CPT" if run["kind"] == "cpt" else "demo base models"
        panels.setdefault(title, []).append((run, read_train_log(path)))
    fig, grid = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4), squeeze=False,
                             constrained_layout=True)
    for ax, (title, logs) in zip(grid[0], panels.items()):
        for run, log in logs:
            colour = (DIRECTION_COLOURS.get(run["run"]) if run["kind"] == "cpt"
                      else DEMO_COLOURS.get(run["run"]))
            name = run["run"] if run["kind"] == "cpt" else f"{run['label']} ({STAGES.get(run['run'], run['run'])})"
            ax.plot(log["step"], log["loss"], marker="o" if len(log) < 20 else None, ms=3,
                    color=colour, label=name)
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("training loss (cross-entropy, nats/token)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig
