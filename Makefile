# tinyml: `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup system-packages demo test bench clean

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

test: setup system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Runs every row whose toolchain is here and names the rows it skips (`make system-packages` adds them).
bench: setup
	$(BIN)/python native/tools/bench.py

clean:
	rm -rf out build models/*.tflite models/*.tmdl
