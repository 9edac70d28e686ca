# tinyml: `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup system-packages demo demo-ad01 demo-mlperf test docs bench natmods firmware clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null
	$(BIN)/pip install -e '.[dev]'
	touch $@

# Cross compilers, QEMU and Chromium for the tests (.ci/system-packages.txt): apt-get as root,
# else sudo, else a message with the command to run. Does nothing when all are there.
system-packages:
	@.ci/install-system-packages.sh

demo: setup
	$(BIN)/tinyml demo

# MLPerf Tiny's AD01 (../shared/models, else a same-shape stand-in tinyml trains, which its first
# line says) per board; the native latency estimates use out/bench/kernels.json where `make bench`
# wrote one, else the table the package ships (host/tinyml_host/data/kernel_costs.json).
demo-ad01: setup
	@$(BIN)/tinyml demo ad01

# MLPerf Tiny's five models (../shared/models) per board: fits in RAM / ROMFS / streamed, latency, energy
# (tinyml estimate; graphs priced with data/op_costs.json, which native/tools/model_bench.py writes).
demo-mlperf: setup
	$(BIN)/tinyml demo mlperf

# The device tests run _tinyml from the shipped x64 module (native/prebuilt) in the PyPI micropython
# and fail where it is missing; TINYML_MICROPYTHON=... TINYML_MPY_PATH=... test another firmware.
test: setup system-packages
	TINYML_MPY_PATH="$${TINYML_MPY_PATH-$(CURDIR)/native/prebuilt/x64}" TINYML_REQUIRE_NATIVE="$${TINYML_REQUIRE_NATIVE-1}" \
	    $(BIN)/python -m pytest $(PYTEST_ARGS)

# The documentation site (MkDocs + Material) from docs/ into out/site/; the CLI reference page is
# generated from the parser (docs/hooks/cli_reference.py). `make test` builds it with --strict too.
docs: setup
	$(BIN)/mkdocs build --strict

# Runs every row whose toolchain is here and names the rows it skips (`make system-packages` adds them).
bench: setup
	$(BIN)/python native/tools/bench.py

# The prebuilt _tinyml.mpy per architecture in native/prebuilt/ (run after any change to native/core
# or the binding; a test fails until it is): needs a MicroPython source tree and the cross compilers.
natmods: setup system-packages
	@test -n "$(MPY_DIR)" || { echo "make natmods needs MPY_DIR=/path/to/micropython (a source tree)"; exit 2; }
	$(BIN)/python native/tools/natmods.py build $(MPY_DIR)

# MicroPython firmware with _tinyml built in, for a board of boards.json (clones a MicroPython
# release, or MICROPYTHON_DIR=...; ROMFS_BYTES=... on rp2); the file lands in out/firmware/.
firmware: setup
	@test -n "$(BOARD)" || { echo "make firmware needs BOARD=<a boards.json id: nano33_ble_sense, pico, pico_w, pico2_w>"; exit 2; }
	$(BIN)/tinyml firmware $(BOARD) $(if $(MICROPYTHON_DIR),--micropython-dir $(MICROPYTHON_DIR)) $(if $(ROMFS_BYTES),--romfs-bytes $(ROMFS_BYTES))

clean:
	rm -rf out build models/*.tflite models/*.tmdl
