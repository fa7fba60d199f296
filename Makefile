# The two commands a newcomer needs: `make run` and `make test`.
# Each installs whatever is missing into .venv first. llama-cpp-python is
# built from source the first time (about 7 minutes on 2 cores) into a wheel
# cache keyed on its version and build flags, so later installs reuse it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ./data
HOST   ?= 127.0.0.1
PORT   ?= 8765
PYTEST_ARGS ?=

# A portable llama.cpp: llama.cpp's default GGML_NATIVE=ON compiles for the
# build CPU (AMX, AVX-512 on a Xeon), and that wheel dies with "Illegal
# instruction" on a virtual machine or another CPU. The flags below run on any
# x86-64 with AVX2. The wheel cache directory is named after the version and a
# hash of the flags, so a wheel built with other flags is never picked up.
LLAMA_VERSION := 0.3.16
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_AVX_VNNI=OFF
else
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF
endif
LLAMA_KEY := $(shell printf '%s %s %s' '$(LLAMA_VERSION)' '$(ARCH)' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
WHEEL_CACHE ?= $(HOME)/.cache/kith/wheels
LLAMA_WHEELS := $(WHEEL_CACHE)/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_KEY)
LLAMA_STAMP := $(VENV)/.llama-$(LLAMA_KEY)

.PHONY: run test lint bench install browser clean llama-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(LLAMA_WHEELS)/.built: | $(BIN)/python
	@echo "Building llama-cpp-python $(LLAMA_VERSION) portably (first time only, about 7 minutes on 2 cores)..."
	rm -rf $(LLAMA_WHEELS).tmp && mkdir -p $(LLAMA_WHEELS).tmp
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" FORCE_CMAKE=1 $(BIN)/pip wheel --quiet --no-deps \
		--no-cache-dir --no-binary llama-cpp-python -w $(LLAMA_WHEELS).tmp \
		llama-cpp-python==$(LLAMA_VERSION)
	rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS)
	touch $@

$(LLAMA_STAMP): $(LLAMA_WHEELS)/.built | $(BIN)/python
	$(BIN)/pip install --quiet --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	rm -f $(VENV)/.llama-* && touch $@

$(STAMP): pyproject.toml $(LLAMA_STAMP) | $(BIN)/python
	$(BIN)/pip install --quiet --find-links $(LLAMA_WHEELS) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Fails when the installed llama.cpp holds AMX or AVX-512 code (see above).
llama-check: $(STAMP)
	@lib=$$($(BIN)/python -c "import llama_cpp, pathlib; p = pathlib.Path(llama_cpp.__file__).parent; print(next(iter(sorted(p.rglob('libggml-cpu.so*')))))"); \
	n=$$(objdump -d "$$lib" | grep -cE 'tilezero|tileloadd|zmm' || true); \
	echo "$$lib: $$n AMX/AVX-512 instructions"; test "$$n" = 0

run: $(STAMP)
	$(BIN)/kith --data-dir $(DATA) init --if-empty
	$(BIN)/kith --data-dir $(DATA) serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/kith bench all

clean:
	rm -rf $(VENV) build *.egg-info
