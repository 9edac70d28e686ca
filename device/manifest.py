# Freeze tinyml into a MicroPython firmware: add to your board's manifest
#   include("/path/to/tinyml/device/manifest.py")
# (docs/firmware.md). main.py stays on the filesystem, where you edit it.
package("tinyml", base_path="lib")
