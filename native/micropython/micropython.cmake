# _tinyml as a user C module for MicroPython's CMake-based ports (rp2, esp32):
#   make -C ports/rp2 BOARD=RPI_PICO USER_C_MODULES=/path/to/tinyml/native/micropython/micropython.cmake
# See docs/firmware.md.
add_library(usermod_tinyml INTERFACE)

# every C file of native/core but the readable references (*_ref.c), which only the tests build
file(GLOB TINYML_CORE_SOURCES ${CMAKE_CURRENT_LIST_DIR}/../core/*.c)
list(FILTER TINYML_CORE_SOURCES EXCLUDE REGEX "_ref\\.c$")
target_sources(usermod_tinyml INTERFACE ${CMAKE_CURRENT_LIST_DIR}/modtinyml.c ${TINYML_CORE_SOURCES})

target_include_directories(usermod_tinyml INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
    ${CMAKE_CURRENT_LIST_DIR}/../core
)

target_link_libraries(usermod INTERFACE usermod_tinyml)

# `make firmware --romfs-bytes N` on an rp2 port of a MicroPython release before pico-sdk 2.3,
# whose CMake has no MICROPY_HW_ROMFS_BYTES option: its mpconfigport.h takes the size as a C
# define. An INTERFACE definition of this library reaches every source of the firmware; the
# qstr scan takes its defines from MICROPY_CPP_DEF_EXTRA (py/mkrules.cmake), so it goes there too.
if(DEFINED TINYML_ROMFS_BYTES)
    target_compile_definitions(usermod_tinyml INTERFACE MICROPY_HW_ROMFS_BYTES=${TINYML_ROMFS_BYTES})
    list(APPEND MICROPY_CPP_DEF_EXTRA MICROPY_HW_ROMFS_BYTES=${TINYML_ROMFS_BYTES})
endif()
