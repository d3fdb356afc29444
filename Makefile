# lstmkit: every target makes .venv if missing and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel of torch; override with `make TORCH_SPEC=torch==2.x.y install` (or empty to keep what is there).
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
EXTRAS ?= apps,onnx,dev,bench,compiled,triton,docs
STAMP := $(VENV)/.installed
# The xLSTM reference package, the truth lstmkit.xlstm is tested against (tests only): without its
# dependencies (it would pull CUDA builds), plus the modules it imports on the CPU.
XLSTM_REF ?= xlstm==2.0.6 mlstm_kernels==2.0.6 dacite==1.9.2 omegaconf==2.4.0 einops==0.8.2

.PHONY: install demo test test-all bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ]; then \
	  $(PY) -m pip install -q "$(TORCH_SPEC)" || \
	  $(PY) -m pip install -q "$(TORCH_SPEC)" --index-url $(TORCH_INDEX); fi
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	$(PY) -m pip install -q --no-deps $(XLSTM_REF)
	@if [ -f scripts/install_speech_deps.sh ]; then bash scripts/install_speech_deps.sh; fi
	@if [ -d src/lstmkit/backends/compiled ]; then \
	  $(PY) -c "import lstmkit.backends.compiled as c; c.build(verbose=True)"; fi
	touch $(STAMP)

demo: install
	$(VENV)/bin/lstmkit forecast

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m ""

# `make bench QUICK=1`: a smoke run (few shapes and rounds). Run the full one on an idle machine.
bench: install
	$(PY) benchmarks/speed.py $(if $(QUICK),--quick) --out benchmarks/latest.md
	$(PY) benchmarks/streaming.py $(if $(QUICK),--rounds 3) > benchmarks/latest_streaming.md
	$(PY) benchmarks/never_slower.py $(if $(QUICK),--quick) --out benchmarks/latest_never_slower.md \
	  --json benchmarks/latest_never_slower.json
	@echo "wrote benchmarks/latest.md, latest_streaming.md, latest_never_slower.md and .json" \
	  "(docs/backends.md keeps the latest table with its date and machine)"

# The documentation site (mkdocs.yml): --strict fails on a broken internal link or reference.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache
