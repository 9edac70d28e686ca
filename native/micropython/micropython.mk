# _tinyml as a user C module for MicroPython's make-based ports (unix, nrf, esp8266...):
#   make -C ports/unix USER_C_MODULES=/path/to/tinyml/native
# See docs/firmware.md.
TINYML_DIR := $(USERMOD_DIR)
TINYML_CORE := $(TINYML_DIR)/../core

SRC_USERMOD_C += $(TINYML_DIR)/modtinyml.c
SRC_USERMOD_LIB_C += $(TINYML_CORE)/requantize.c $(TINYML_CORE)/fc_s8.c $(TINYML_CORE)/model.c $(TINYML_CORE)/check.c $(TINYML_CORE)/features.c
CFLAGS_USERMOD += -I$(TINYML_CORE)
