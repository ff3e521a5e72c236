# posd — developer entry points. Needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint pyc typecheck unit integration e2e bench bench-year protos clean

$(STAMP): pyproject.toml clients/python/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e clients/python -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Byte-code of the project's own modules, written once: where PYTHONDONTWRITEBYTECODE is
## set (as on this project's CI machines) Python reads .pyc files but never writes them,
## so every daemon and posctl process the tests start compiled ~170 modules again (0.5 s
## of its start-up; a pip-installed posd gets its .pyc from pip). Only changed files are
## compiled again.
pyc: $(STAMP)
	$(PY) -m compileall -q -j 0 daemon clients/python/posd tests bench

## A demo register on the embedded defaults: start, scripted sale, receipt, clean stop.
demo: $(STAMP) pyc
	$(PY) -m posd_daemon.demo

## The whole suite: lint, types, unit, integration, e2e. Tests run in TEST_WORKERS processes
## (pytest-xdist; each test has its own state dir, sockets and ports): 2, as CI's 2 cores.
TEST_WORKERS ?= 2
test: $(STAMP) pyc lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) tests

lint: $(STAMP)
	$(VENV)/bin/ruff check daemon clients/python tests bench
	$(VENV)/bin/ruff format --check daemon clients/python/posd/client.py tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP) pyc
	$(PY) bench/sale_latency.py
	$(PY) bench/pay_latency.py
	$(PY) bench/scan_display.py

## A year of a busy register (300,000 receipts): DSFinV-K export, Z closing, archive queries.
bench-year: $(STAMP) pyc
	$(PY) bench/register_year.py

## Regenerate the committed gRPC code (pinned grpcio-tools + mypy-protobuf).
protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos \
		--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
		--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
		--python_out=clients/python --grpc_python_out=clients/python \
		--mypy_out=clients/python --mypy_grpc_out=clients/python \
		protos/posd/v1/*.proto
	touch clients/python/posd/v1/__init__.py

clean:
	rm -rf $(VENV) .state build *.egg-info
