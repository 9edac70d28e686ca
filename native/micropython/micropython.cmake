# _tinyml as a user C module for MicroPython's CMake-based ports (rp2, esp32):
#   make -C ports/rp2 BOARD=RPI_PICO USER_C_MODULES=/path/to/tinyml/native/micropython/micropython.cmake
# See docs/firmware.md.
add_library(usermod_tinyml INTERFACE)

target_sources(usermod_tinyml INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/modtinyml.c
    ${CMAKE_CURRENT_LIST_DIR}/../core/requantize.c
    ${CMAKE_CURRENT_LIST_DIR}/../core/fc_s8.c
    ${CMAKE_CURRENT_LIST_DIR}/../core/model.c
    ${CMAKE_CURRENT_LIST_DIR}/../core/check.c
    ${CMAKE_CURRENT_LIST_DIR}/../core/features.c
)

target_include_directories(usermod_tinyml INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
    ${CMAKE_CURRENT_LIST_DIR}/../core
)

target_link_libraries(usermod INTERFACE usermod_tinyml)
