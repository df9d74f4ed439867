"""What each job reads: one frozen object per kind of job, built from the ``snakemake``
object its entry script (``workflow/scripts/<rule>.py``) is given.

``from_snakemake`` reads the rule's named inputs and outputs and only the params the job
uses; a field a rule may leave out has its default here, so rules pass no placeholders.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from wasurenai.common import WorkflowError, first_log


def _named(entries, key: str, default=None):
    """Entry ``key`` of a Snakemake input/params/log/resources list a rule may leave out."""
    return dict(entries.items()).get(key, default)


def _by_run(runs, paths) -> dict[tuple[str, str], str]:
    """{(base, model): evaluation JSON}: ``paths`` are the evaluation inputs of ``runs``
    (``params.runs``), in that order; the pairing is made here, once, by name."""
    runs, paths = list(runs), [str(p) for p in paths]
    if len(runs) != len(paths):
        raise WorkflowError(f"{len(paths)} evaluation files for {len(runs)} runs")
    return {(run["base"], run["model"]): path for run, path in zip(runs, paths)}


def front_runs(fronts, paths) -> tuple[list[dict], dict]:
    """The searches' front points as evaluation runs, from the search_front outputs
    ``paths`` of ``fronts`` ([{base, search}], in that order): (runs, point -> {base,
    search, label}). The rules list the points' evaluations in this order, after the
    configured runs (common.smk, search_point_evals)."""
    from wasurenai.search import front_points

    fronts, paths = list(fronts), [str(p) for p in paths]
    if len(fronts) != len(paths):
        raise WorkflowError(f"{len(paths)} front files for {len(fronts)} searches")
    runs, points = [], {}
    for front, path in zip(fronts, paths):
        for point, entry in front_points(path).items():
            runs.append({"base": front["base"], "model": point})
            points[point] = {"base": front["base"], "search": front["search"], "label": entry["spec"]["label"]}
    return runs, points


def _runs_and_points(smk) -> tuple[list[dict], dict, list[str]]:
    """params.runs and the searches' front points (input.fronts, params.fronts), if any,
    with their evaluation JSONs (input.evals, then input.point_evals)."""
    fronts = _named(smk.params, "fronts") or []
    extra, points = front_runs(fronts, smk.input.fronts if fronts else [])
    evals = [*smk.input.evals, *(_named(smk.input, "point_evals") or [])]
    return [*smk.params.runs, *extra], points, evals


@dataclass(frozen=True)
class TrainJob:
    """Rules continual_pretrain and build_demo_base: train on packed tokens.

    The hyperparameters are config ``cpt``'s, overridden by the rule's ``params.hp`` (a
    demo stage's section; a workflow without ``cpt``, like the SLURM test's, gives them
    all there); the model starts from ``input.model`` when the rule names one,
    else from scratch with ``params.architecture``. ``gpus`` and ``nodes`` are the job's
    resources: more than one device launches one process per device (see train.launch).
    """

    tokens_bin: str
    meta_json: str
    tokenizer_dir: str
    out_dir: str
    hp: dict
    architecture: dict | None = None
    init_model: str | None = None
    threads: int | None = None
    metrics_csv: str | None = None
    log: str | None = None
    gpus: int = 0
    nodes: int = 1

    @classmethod
    def from_snakemake(cls, smk) -> TrainJob:
        architecture = _named(smk.params, "architecture")
        init_model = _named(smk.input, "model")
        metrics = _named(smk.log, "metrics")
        return cls(
            tokens_bin=str(smk.input.tokens), meta_json=str(smk.input.meta),
            tokenizer_dir=str(smk.input.tokenizer), out_dir=str(smk.output[0]),
            hp={**smk.config.get("cpt", {}), **_named(smk.params, "hp", {})},
            architecture=dict(architecture) if architecture else None,
            init_model=str(init_model) if init_model else None,
            threads=smk.threads, metrics_csv=str(metrics) if metrics else None,
            log=first_log(smk), gpus=int(_named(smk.resources, "gpu", 0) or 0),
            nodes=int(_named(smk.resources, "nodes", 1) or 1),
        )

    def train_kwargs(self) -> dict:
        """The arguments of ``train.train`` (what a launched process is given, as JSON)."""
        kwargs = asdict(self)
        for key in ("log", "gpus", "nodes"):
            del kwargs[key]
        return kwargs


@dataclass(frozen=True)
class MergeJob:
    """Rule merge: one input per role the merge reads (``input.<role>``), its spec."""

    name: str
    spec: dict
    models: dict[str, str]  # role -> HF model dir
    out_dir: str
    threads: int = 1
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> MergeJob:
        return cls(name=smk.wildcards.merge, spec=dict(smk.params.spec),
                   models={role: str(path) for role, path in smk.input.items()},
                   out_dir=str(smk.output[0]), threads=int(smk.threads), log=first_log(smk))


@dataclass(frozen=True)
class SweepJob:
    """Rules sweep_<name>: merge every grid point of one sweep in memory and evaluate it.

    ``input.<role>`` is each role's model (``params.roles`` names them among the
    evaluation's inputs); ``params.points`` maps point -> spec, in the order of the
    outputs (one evaluation JSON per point)."""

    base: str
    points: dict[str, dict]
    models: dict[str, str]
    cfg: dict
    outputs: dict[str, str]  # point -> evaluation JSON
    threads: int = 1
    log: str | None = None
    dev: dict | None = None  # as EvaluateJob's

    @classmethod
    def from_snakemake(cls, smk) -> SweepJob:
        points = dict(smk.params.points)
        if len(smk.output) != len(points):
            raise WorkflowError(f"sweep: {len(smk.output)} outputs for {len(points)} points")
        return cls(base=smk.wildcards.base, points=points,
                   models={role: str(smk.input[role]) for role in smk.params.roles},
                   cfg=dict(smk.params.cfg), outputs=dict(zip(points, map(str, smk.output))),
                   threads=int(smk.threads), log=first_log(smk), dev=_dev(smk))


def _dev(smk) -> dict | None:
    """params.dev of an evaluating rule: the dev split to score beside the test split, or None."""
    dev = getattr(smk.params, "dev", None)
    return dict(dev) if dev else None


@dataclass(frozen=True)
class EvaluateJob:
    """Rule evaluate: score ``input.model`` (model ``model`` of base ``base``) on the
    datasets and translation sets of config ``evaluation`` (``params.cfg``)."""

    base: str
    model: str
    model_dir: str
    cfg: dict
    out: str
    threads: int = 1
    log: str | None = None
    dev: dict | None = None  # {"dataset_dir", "max_samples"}: the dev split scored too

    @classmethod
    def from_snakemake(cls, smk) -> EvaluateJob:
        return cls(base=smk.wildcards.base, model=smk.wildcards.model,
                   model_dir=str(smk.input.model), cfg=dict(smk.params.cfg),
                   out=str(smk.output[0]), threads=int(smk.threads), log=first_log(smk),
                   dev=_dev(smk))


# --- corpus and demo data ----------------------------------------------------------------

@dataclass(frozen=True)
class PrepareCorpusJob:
    """Rule prepare_corpus: clean, sample and format one direction of the parallel corpus."""

    corpus: str
    direction: str
    cfg: dict  # config corpus
    text: str
    report: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> PrepareCorpusJob:
        return cls(corpus=str(smk.input.corpus), direction=smk.wildcards.direction,
                   cfg=dict(smk.params.cfg), text=str(smk.output.text),
                   report=str(smk.output.report), log=first_log(smk))


@dataclass(frozen=True)
class TokenizeJob:
    """Rule tokenize: pack a text JSONL into token windows."""

    text: str
    tokenizer: str
    bin: str
    meta: str
    window: int
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> TokenizeJob:
        return cls(text=str(smk.input.text), tokenizer=str(smk.input.tokenizer),
                   bin=str(smk.output.bin), meta=str(smk.output.meta),
                   window=int(smk.params.window), log=first_log(smk))


@dataclass(frozen=True)
class SynthesizeDataJob:
    """Rule synthesize_data: the demo's corpus, monolingual text and evaluation datasets."""

    cfg: dict  # config synthetic
    corpus: str
    monolingual: str
    datasets: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> SynthesizeDataJob:
        return cls(cfg=dict(smk.params.cfg), corpus=str(smk.output.corpus),
                   monolingual=str(smk.output.monolingual), datasets=str(smk.output.datasets),
                   log=first_log(smk))


@dataclass(frozen=True)
class DemoTokenizerJob:
    """Rule demo_tokenizer: a byte-level BPE on the demo's texts."""

    monolingual: str
    corpus: str
    train_dir: str
    vocab_size: int
    out_dir: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> DemoTokenizerJob:
        return cls(monolingual=str(smk.input.monolingual), corpus=str(smk.input.corpus),
                   train_dir=str(smk.params.train_dir), vocab_size=int(smk.params.vocab_size),
                   out_dir=str(smk.output[0]), log=first_log(smk))


@dataclass(frozen=True)
class DemoTextsJob:
    """Rule demo_texts: the demo bases' pretraining and instruct-tuning texts."""

    monolingual: str
    train_dir: str
    pretrain_datasets: list[str]
    instruct_datasets: list[str]
    num_few_shots: int
    seed: int
    pretrain: str
    instruct: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> DemoTextsJob:
        return cls(monolingual=str(smk.input.monolingual), train_dir=str(smk.params.train_dir),
                   pretrain_datasets=list(smk.params.pretrain_datasets),
                   instruct_datasets=list(smk.params.instruct_datasets),
                   num_few_shots=int(smk.params.num_few_shots), seed=int(smk.params.seed),
                   pretrain=str(smk.output.pretrain), instruct=str(smk.output.instruct),
                   log=first_log(smk))


@dataclass(frozen=True)
class DemoCometJob:
    """Rule demo_comet: a tiny COMET fitted on the synthetic MT train splits
    (``train_sets``, relative to ``input.datasets``)."""

    datasets: str
    train_sets: list[str]
    encoder: str
    seed: int
    steps: int
    out_dir: str
    threads: int | None = None
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> DemoCometJob:
        return cls(datasets=str(smk.input.datasets), train_sets=list(smk.params.train_sets),
                   encoder=str(smk.params.encoder), seed=int(smk.params.seed),
                   steps=int(smk.params.steps), out_dir=str(smk.output[0]),
                   threads=smk.threads, log=first_log(smk))


@dataclass(frozen=True)
class FetchBaseJob:
    """Rules fetch_base_<base>: download a hub model into the base's configured path."""

    repo_id: str
    out_dir: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> FetchBaseJob:
        return cls(repo_id=str(smk.params.repo_id), out_dir=str(smk.output[0]), log=first_log(smk))


# --- the report --------------------------------------------------------------------------

@dataclass(frozen=True)
class FigureJob:
    """Rules plot_tradeoff and plot_retention: a figure (and its data) from scores.csv."""

    scores: str
    png: str
    svg: str
    csv: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> FigureJob:
        return cls(scores=str(smk.input.scores), png=str(smk.output.png),
                   svg=str(smk.output.svg), csv=str(smk.output.csv), log=first_log(smk))


@dataclass(frozen=True)
class PlotSweepsJob:
    """Rule plot_sweeps: Figure 2 from sweeps.csv and scores.csv."""

    sweeps_csv: str
    scores: str
    sweeps: dict  # sweep -> {label, method}
    directions: list[str]
    png: str
    svg: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> PlotSweepsJob:
        return cls(sweeps_csv=str(smk.input.sweeps), scores=str(smk.input.scores),
                   sweeps=dict(smk.params.sweeps), directions=list(smk.params.directions),
                   png=str(smk.output.png), svg=str(smk.output.svg), log=first_log(smk))


@dataclass(frozen=True)
class PlotTrainingJob:
    """Rule plot_training: the loss curves of the trained models (``runs``, one per model)."""

    models: list[str]
    runs: list[dict]
    png: str
    svg: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> PlotTrainingJob:
        return cls(models=[str(m) for m in smk.input.models], runs=list(smk.params.runs),
                   png=str(smk.output.png), svg=str(smk.output.svg), log=first_log(smk))


@dataclass(frozen=True)
class RecommendJob:
    """Rule recommend: the merge to pick per base under the budget, with the paired
    interval against the runner-up (``evals``: (base, model) -> the evaluation JSON of
    that run of ``runs``)."""

    scores: str
    evals: dict[tuple[str, str], str]
    runs: list[dict]
    budget: dict
    directions: list[str]
    categories: dict
    intervals: dict
    md: str
    json: str
    html: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> RecommendJob:
        runs, _, evals = _runs_and_points(smk)
        return cls(scores=str(smk.input.scores), evals=_by_run(runs, evals),
                   runs=runs, budget=dict(smk.params.budget),
                   directions=list(smk.params.directions), categories=dict(smk.params.categories),
                   intervals=dict(smk.params.intervals), md=str(smk.output.md),
                   json=str(smk.output.json), html=str(smk.output.html), log=first_log(smk))


@dataclass(frozen=True)
class AggregateJob:
    """Rule aggregate: Tables 1 and 2, the category table and the figures' data from the
    evaluation JSONs (``evals``: (base, model) -> the JSON of that run of ``runs``).

    ``outputs`` are the rule's named outputs; the interval tables are written when it
    names ``intervals_csv``, the comparison tables when it has ``reference``."""

    evals: dict[tuple[str, str], str]
    runs: list[dict]
    bases: dict  # base -> label
    merges: dict  # merge -> label
    directions: list[str]
    table1_merge: str
    outputs: dict[str, str]
    sweeps: dict = field(default_factory=dict)  # grid point -> {sweep, point, label}
    categories: dict = field(default_factory=dict)
    intervals: dict = field(default_factory=dict)
    reference: str | None = None
    log: str | None = None
    points: dict = field(default_factory=dict)  # a search's front point -> {base, search, label}
    dev: dict | None = None  # the dev split every evaluation scored (EvaluateJob.dev), if any

    @classmethod
    def from_snakemake(cls, smk) -> AggregateJob:
        reference = _named(smk.input, "reference")
        runs, points, evals = _runs_and_points(smk)
        return cls(evals=_by_run(runs, evals), runs=runs, points=points, dev=_dev(smk),
                   bases=dict(smk.params.bases), merges=dict(smk.params.merges),
                   directions=list(smk.params.directions),
                   table1_merge=str(smk.params.table1_merge),
                   outputs={name: str(path) for name, path in smk.output.items()},
                   sweeps=dict(_named(smk.params, "sweeps") or {}),
                   categories=dict(_named(smk.params, "categories") or {}),
                   intervals=dict(_named(smk.params, "intervals") or {}),
                   reference=str(reference) if reference else None, log=first_log(smk))


@dataclass(frozen=True)
class SearchWorkerJob:
    """Rule search_worker: trials of search ``search`` for base ``base`` until the study's
    budget is used up. ``input.<role>`` is each role's model (``params.roles``); the study's
    journal is in ``params.study_dir``; trials are scored on ``params.dev_dir``."""

    search: str
    base: str
    worker: int
    spec: dict
    directions: list[str]
    models: dict[str, str]
    cfg: dict
    dev_dir: str
    study_dir: str
    out: str
    threads: int = 1
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> SearchWorkerJob:
        return cls(search=smk.wildcards.search, base=smk.wildcards.base, worker=int(smk.wildcards.worker),
                   spec=dict(smk.params.spec), directions=list(smk.params.directions),
                   models={role: str(smk.input[role]) for role in smk.params.roles},
                   cfg=dict(smk.params.cfg), dev_dir=str(smk.params.dev_dir),
                   study_dir=str(smk.params.study_dir), out=str(smk.output[0]),
                   threads=int(smk.threads), log=first_log(smk))


@dataclass(frozen=True)
class SearchFrontJob:
    """Checkpoint search_front: every trial of the study the workers ran on (``input.workers``,
    their output JSONs name it) in ``output.trials``, and the dev front's points with their
    merge specs in ``output.front``."""

    search: str
    base: str
    spec: dict
    directions: list[str]
    workers: list[str]
    trials_csv: str
    front_json: str
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> SearchFrontJob:
        return cls(search=smk.wildcards.search, base=smk.wildcards.base, spec=dict(smk.params.spec),
                   directions=list(smk.params.directions), workers=[str(w) for w in smk.input.workers],
                   trials_csv=str(smk.output.trials), front_json=str(smk.output.front),
                   log=first_log(smk))


@dataclass(frozen=True)
class SearchPointJob:
    """Rule merge_search_point: front point ``<search>-trial<trial>`` (its spec in
    ``input.front``) merged from ``input.<role>`` into the output directory."""

    name: str
    front_json: str
    models: dict[str, str]
    out_dir: str
    threads: int = 1
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk) -> SearchPointJob:
        from wasurenai.search import point_name

        return cls(name=point_name(smk.wildcards.search, int(smk.wildcards.trial)),
                   front_json=str(smk.input.front),
                   models={role: str(smk.input[role]) for role in smk.params.roles},
                   out_dir=str(smk.output[0]), threads=int(smk.threads), log=first_log(smk))


@dataclass(frozen=True)
class SearchReportJob:
    """Rule search_report: per base (``params.bases``), ``input.front_<i>`` and
    ``input.trials_<i>`` of the i-th base, and scores.csv (every model's scores, the front
    points' too). ``dev_comparable``: every model was scored on the trials' dev samples."""

    search: str
    spec: dict
    fronts: dict[str, str]   # base -> front.json
    trials: dict[str, str]   # base -> trials.csv
    scores_csv: str
    table_md: str
    table_csv: str
    figure: str
    figure_svg: str
    hypervolume: str
    hypervolume_svg: str
    log: str | None = None
    dev_comparable: bool = False

    @classmethod
    def from_snakemake(cls, smk) -> SearchReportJob:
        bases = list(smk.params.bases)
        return cls(search=smk.wildcards.search, spec=dict(smk.params.spec),
                   fronts={b: str(smk.input[f"front_{i}"]) for i, b in enumerate(bases)},
                   trials={b: str(smk.input[f"trials_{i}"]) for i, b in enumerate(bases)},
                   scores_csv=str(smk.input.scores), table_md=str(smk.output.table_md),
                   table_csv=str(smk.output.table_csv), figure=str(smk.output.figure),
                   figure_svg=str(smk.output.figure_svg), hypervolume=str(smk.output.hypervolume),
                   hypervolume_svg=str(smk.output.hypervolume_svg), log=first_log(smk),
                   dev_comparable=bool(_named(smk.params, "dev_comparable", False)))
