# Every target installs the package into .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PRESET ?= quick
# Training seeds of `make reproduce` (default each preset's: quick 3, paper 5).
SEEDS  ?=
# Huge pages for glibc malloc: faster small-transformer steps on CPU (not yet measured by make bench).
export GLIBC_TUNABLES ?= glibc.malloc.hugetlb=1

.PHONY: install test test-slow lint bench faults darkroom darkroom-reference reproduce ablations clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# One pytest-xdist worker per core, each test file on one worker (so module-scoped fixtures, such
# as compiled functions and tiny runs, are built once). The slowest tests are listed at the end:
# the suite's budget is about 10 minutes on a 2-core CPU (docs/design.md, Tests).
test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q -n auto --dist loadfile --durations=25

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(PY) -m benchmarks.run

# SIGKILL at random moments, a full disk, corruption, two writers, hostile inputs (about 12 min on
# a 2-core CPU): writes docs/reliability.md and docs/reliability.json.
faults: $(STAMP)
	$(PY) -m adjax.faults --work runs/faults

darkroom: $(STAMP)
	$(PY) -m adjax.experiments.darkroom --preset $(PRESET) --out runs/darkroom --seeds 1 --episodes 200

# The main job's published reference (experiments/darkroom/main_job/): `make darkroom`, reusing
# runs/darkroom, with the paper's queue checked against the block refresh on 30 evaluation seeds x
# 16 held-out goals (480 pairs: a 95% interval of about ±0.3 over all 200 episodes and ±0.45 over
# the last 20; `make darkroom`'s 5 seeds: ±0.8 and ±1.0), then the report. About 8 min after
# `make darkroom` on an AVX-512 CPU.
darkroom-reference: $(STAMP)
	$(PY) -m adjax.experiments.darkroom --preset quick --out runs/darkroom --seeds 1 --episodes 200 \
	  --refresh-seeds 30 --publish experiments/darkroom/main_job
	$(PY) -m adjax.experiments.reproduce --report-only

reproduce: $(STAMP)
	$(PY) -m adjax.experiments.reproduce --preset $(PRESET) $(if $(SEEDS),--seeds $(SEEDS))

# The paper's analyses (context size, masking, training tasks, model size, label smoothing), each
# resuming its completed stages, published to experiments/ablations/ value by value (a rerun
# takes the values published there with the same configuration, even with runs/ gone; such a
# value whose AD paths were never drawn gets its AD training seed 0 trained alone for them),
# then the report.
ABLATIONS = context_size masking num_tasks model_size label_smoothing
ablations: $(STAMP)
	for a in $(ABLATIONS); do \
	  $(PY) -m adjax.experiments.$$a --preset $(PRESET) --publish experiments/ablations --draw-paths || exit 1; \
	done
	$(PY) -m adjax.experiments.reproduce --report-only

clean:
	rm -rf $(VENV) runs .pytest_cache
