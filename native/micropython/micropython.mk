# _tinyml as a user C module for MicroPython's make-based ports (unix, nrf, esp8266...):
#   make -C ports/unix USER_C_MODULES=/path/to/tinyml/native
# See docs/firmware.md.
TINYML_DIR := $(USERMOD_DIR)
TINYML_CORE := $(TINYML_DIR)/../core

SRC_USERMOD_C += $(TINYML_DIR)/modtinyml.c
# every C file of native/core but the readable references, which only the tests build
SRC_USERMOD_LIB_C += $(filter-out %_ref.c,$(wildcard $(TINYML_CORE)/*.c))
CFLAGS_USERMOD += -I$(TINYML_CORE)
