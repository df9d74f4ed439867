# wasurenai: `make demo` runs the whole workflow on the embedded default; `make test` runs
# the tests. Both create .venv from requirements.lock first if it is missing or stale, and
# install the library (scripts/wasurenai, pyproject.toml) into it in editable mode.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-lock
SNAKEMAKE := $(BIN)/snakemake

export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test bench bench-merge bench-gpu dry-run lint clean slurm-test report registry-facts readme-tables demo-seeds

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	cp requirements.lock $@

demo: $(STAMP)
	$(SNAKEMAKE) --profile profiles/local
	@echo
	@echo "Tables: results/tables/table1.md results/tables/table2.md"
	@cat results/tables/table1.md results/tables/table2.md

SEEDS := 1 2
demo-seeds: demo  # the demo again for synthetic seeds 1 and 2 (in results/seeds/<seed>), then the findings side by side
	for s in $(SEEDS); do \
	  mkdir -p results/seeds/$$s && printf 'synthetic:\n  seed: %s\n' $$s > results/seeds/$$s/seed.yaml && \
	  $(SNAKEMAKE) --profile profiles/local --directory results/seeds/$$s \
	    --configfile $(abspath config.yaml) $(abspath results)/seeds/$$s/seed.yaml || exit 1; \
	done
	$(BIN)/python -m wasurenai.findings "seed 0=results" $(foreach s,$(SEEDS),"seed $(s)=results/seeds/$(s)") \
	  --out results/tables/findings_seeds.md

readme-tables: $(STAMP)  # after `make demo`: the README's demo tables from results/tables
	$(BIN)/python -m wasurenai.readme --tables results/tables --readme README.md

report: $(STAMP)  # after `make demo`: report.html with the tables, figures and captions
	$(SNAKEMAKE) --profile profiles/local --report report.html

dry-run: $(STAMP)
	$(SNAKEMAKE) --profile profiles/local -n

lint: $(STAMP)  # Snakemake's own linter, snakefmt's formatting, ruff (config in pyproject.toml)
	$(SNAKEMAKE) --lint
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/ruff check scripts workflow/scripts tests bench

test: $(STAMP)
	$(BIN)/python -m pytest

registry-facts: $(STAMP)  # after a lock change: the DAG checks' facts of mergekit and transformers
	$(BIN)/python -m wasurenai.registry

slurm-test: $(STAMP)
	.ci/slurm-up
	$(BIN)/python -m pytest tests/test_slurm.py

bench: $(STAMP)  # run from the repository root: the benches import tests/helpers_eval.py
	$(BIN)/python -m bench.corpus
	$(BIN)/python -m bench.eval
	$(BIN)/python -m bench.sweep
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.dag
	$(BIN)/python -m bench.train
	$(BIN)/python -m bench.stats

bench-merge: $(STAMP)  # ~25 min and 14 GB of scratch models under /tmp/bench_merge
	$(BIN)/python -m bench.merge

bench-gpu: $(STAMP)  # one GPU, < 8 min, 23 GB of scratch models under TMPDIR: one JSON line
	bench/gpu.sh

clean:
	rm -rf results .snakemake
