# twisted-chat: every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 1234
DB ?= sqlite:chat.sqlite3
WEB ?=

.PHONY: run test test-fast lint typecheck bench bench-cluster bench-rooms bench-history bench-irc bench-tiny irctest clean

$(BIN)/twistd: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: $(BIN)/twistd
	scripts/system-deps
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

# The MySQL driver (mysqlclient) and the system packages it builds against, for `make run
# DB=mysql://...`; no MariaDB server.
$(VENV)/.mysql-deps: $(BIN)/twistd
	scripts/system-deps --client
	$(BIN)/pip install --quiet -e '.[mysql]'
	touch $@

## Run the server on SQLite at 127.0.0.1:1234 (override with PORT=, HOST=, DB=; a
## DB=mysql://... also installs the MySQL driver; WEB=ENDPOINT also serves the web client there).
run: $(BIN)/twistd $(if $(filter mysql% mariadb%,$(DB)),$(VENV)/.mysql-deps)
	$(BIN)/twistd -n --pidfile= chat --port tcp:$(PORT):interface=$(HOST) --db '$(DB)' \
	  $(if $(WEB),--web $(WEB))

## Lint, check the layers, type-check, then run the whole test suite (MySQL tests against a
## real MariaDB), on two pytest-xdist workers; --dist loadfile keeps a module's tests, and so its
## module-scoped servers, on one worker.
test: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

## The unit tests only (tests/unit: no sockets, no processes, no threads; seconds): the inner loop.
test-fast: $(VENV)/.test-deps
	$(BIN)/pytest tests/unit

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.test-deps
	$(BIN)/mypy

$(VENV)/.bench-deps: $(BIN)/twistd
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

## Benchmark suite: ours vs the bare Twisted and threaded reference servers (about 9 minutes),
## then the cluster rows (about 8 more; skipped with a loud message without redis-server), then
## the IRC rows against ngIRCd (about 6 more; ngIRCd's skipped loudly without ngircd).
## Results in bench/out/results.json and bench/out/latency_cpu.png.
bench: $(VENV)/.bench-deps
	$(BIN)/python bench/run.py --cluster --irc

## Only the cluster rows: plain ours and 1, 2, 3 nodes on a private Redis (needs redis-server).
bench-cluster: $(VENV)/.bench-deps
	$(BIN)/python bench/run.py --cluster-only

## Only issue 14's rooms rows and the fan-out row they are compared with (the cluster rooms
## rows need redis-server; skipped with a loud message without it).
bench-rooms: $(VENV)/.bench-deps
	$(BIN)/python bench/run.py --rooms-only

## Only issue 15's rows: history on (--history-days 30) against off (--history-days 0), the
## fan-out rows at 100 and 1000 clients, the private row and the login storm with a replay,
## in three alternating pairs (about 4 minutes). The stored throughput and the /historial and
## /buscar latencies against 1,000,000 messages: bench/history_e2e.py (see bench/RESULTS.md).
bench-history: $(VENV)/.bench-deps
	$(BIN)/python bench/run.py --history-only

## Only issue 16's IRC rows: 1000 IRC clients in one channel at 50 msgs/s and saturated, ours
## on --irc (history on, and --history-days 0) against ngIRCd (Debian's ngircd, its own config in
## a scratch directory), in three alternating rounds (about 6 minutes); see bench/irc_rows.py.
bench-irc: $(VENV)/.bench-deps
	$(BIN)/python bench/run.py --irc-only

## The same, every scenario once with a few clients for a second (what CI runs).
bench-tiny: $(VENV)/.bench-deps
	$(BIN)/python bench/run.py --tiny

# irctest (github progval/irctest), from a checkout of it outside this repository: IRCTEST=DIR.
# Its code is never copied here; our part is irctest_controller/ (the controller module and the
# deselection list, one test id a line with a `# reason` each, deselected exactly by the plugin
# twisted_chat_deselect: pytest's --deselect matches prefixes). IRCTEST_ARGS= adds pytest
# arguments (`-k testQuit`, `-x`, ...).
IRCTEST ?=
IRCTEST_ARGS ?=
IRCTEST_MODULES := connection_registration pingpong quit join part names who whois messages cap \
  sasl isupport utf8 regressions buffering
IRCTEST_MARKERS := not implementation-specific and not deprecated and not strict
IRCTEST_DESELECTED := irctest_controller/deselected.txt
# Checked when the goal is irctest, before anything is built.
ifneq ($(filter irctest,$(MAKECMDGOALS)),)
ifeq ($(strip $(IRCTEST)),)
$(error make irctest: say where irctest is checked out: \
  git clone https://github.com/progval/irctest DIR; make irctest IRCTEST=DIR)
endif
ifeq ($(and $(wildcard $(IRCTEST)/irctest/basecontrollers.py),$(wildcard $(IRCTEST)/requirements.txt)),)
$(error make irctest: $(IRCTEST) is not a checkout of irctest \
  (it needs irctest/basecontrollers.py and requirements.txt))
endif
endif

# irctest's own requirements (pytest, filelock, ecdsa, websockets) into our venv: again only
# when the checkout's requirements.txt is newer than the stamp.
$(VENV)/.irctest-deps: $(BIN)/twistd $(IRCTEST)/requirements.txt
	$(BIN)/pip install --quiet -r '$(IRCTEST)/requirements.txt'
	touch $@

## irctest's 15 modules of issue 16 against a fresh `twistd chat --irc` per test (IRCTEST=DIR,
## a checkout of github progval/irctest; about 5 minutes). The selection and the deselected
## tests with their reasons are in docs/IRC.md.
irctest: $(VENV)/.irctest-deps
	cd '$(IRCTEST)' && PYTHONPATH='$(CURDIR)/irctest_controller' \
	  TWISTED_CHAT_VENV='$(abspath $(VENV))' \
	  TWISTED_CHAT_DESELECTED='$(abspath $(IRCTEST_DESELECTED))' '$(abspath $(BIN))/python' \
	  -m pytest -p no:cacheprovider -p twisted_chat_deselect \
	  --controller twisted_chat_controller -m '$(IRCTEST_MARKERS)' -rfEsX \
	  $(foreach m,$(IRCTEST_MODULES),irctest/server_tests/$(m).py) $(IRCTEST_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache _trial_temp
