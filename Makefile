# One place for every setup step, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 6006
LOGDIR ?= logs/demo

.PHONY: setup python-deps frontend browser demo test test-fast

setup: python-deps frontend browser

python-deps:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e ".[train,gpu,test]"

# The tab's bundle (tb_diag/plugin/static/index.js) is built, not committed.
frontend:
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build

# Headless Chromium for the browser test (Debian package; needs root for apt-get).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null)

demo: python-deps frontend
	$(PYTHON) demo/train_demo.py --logdir $(LOGDIR)
	$(PYTHON) -m tensorboard.main --logdir $(LOGDIR) --host $(HOST) --port $(PORT)

# The Python tests run in TEST_WORKERS processes (pytest-xdist); the tests that share the session's
# demo training or built wheel stay together in one of them (an xdist_group, tests/conftest.py).
TEST_WORKERS ?= 2
PARALLEL = -n $(TEST_WORKERS) --dist loadgroup

test: setup
	cd frontend && npm run typecheck && npm test
	$(PYTHON) -m pytest tests $(PARALLEL)

# The developer's loop: no install step, no slow / subprocess / browser / distributed tests
# (markers in pytest.ini). Needs `make setup` once.
FAST_TIER = not slow and not subprocess and not browser and not distributed
test-fast:
	cd frontend && npm run typecheck && npm test
	$(PYTHON) -m pytest tests -q -m "$(FAST_TIER)" -p no:cacheprovider $(PARALLEL)
