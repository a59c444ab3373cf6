# The two set-up commands: `make demo` (a tour on a local sample) and `make test` (the suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test verify lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

# CI profile: bounded property runs, slow tests excluded, on WORKERS pytest-xdist workers
# (each with its own tmp folders, servers and ports). More workers than cores: many tests
# wait on subprocesses, servers and the disk. The costliest tests start first (tests/conftest.py)
# and --dist worksteal lets an idle worker take queued tests from a busy one, so the run does
# not end with one worker still holding a backlog. The CLI runs of the tests are forked from a
# per-worker process that imported snapstore once (tests/zygote.py; FRESH_PROCESSES=1 for fresh
# interpreters). SNAPSTORE_CPU_LOG=FILE logs each test's CPU seconds.
# The run's tmp folders live in a fresh folder of its own (--basetemp), not in the
# /tmp/pytest-of-USER shared with every other pytest run of the same user: there a
# concurrent run's clean-up can remove this run's folders, and this run's clean-up would
# delete (and trip over) other runs' trees. Kept when a test fails, for a look.
WORKERS ?= 4
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/vulture
	@tmp=$$(mktemp -d -t snapstore-test.XXXXXX) && \
	echo "HYPOTHESIS_PROFILE=ci pytest -n $(WORKERS) --basetemp=$$tmp/t" && \
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -m "not slow" -q -p no:cacheprovider \
		-n $(WORKERS) --dist worksteal --basetemp="$$tmp/t"; \
	status=$$?; \
	if [ $$status -eq 0 ]; then rm -rf "$$tmp"; else echo "test folders kept in $$tmp"; fi; \
	exit $$status

# Long profile: thousands of examples, long stateful runs, slow tests included.
verify: $(STAMP)
	HYPOTHESIS_PROFILE=verify $(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 \
		--timeout=3600

# mypy (strict, on snapstore/) and vulture (dead code) read their settings from pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/vulture

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench.run --scale 1.0 --runs 3

clean:
	rm -rf $(VENV) .demo build *.egg-info
