"""boards.json is the single source of truth; the device's copy is generated from it."""

from tinyml_host import boards

IDS = {"nano33_ble_sense", "nano33_ble_sense_rev2", "esp32", "esp32s3", "pico", "pico_w", "pico2_w"}


def test_all_supported_boards_present():
    assert set(boards.load()) == IDS


def test_device_module_is_generated_from_boards_json():
    assert boards.DEVICE_MODULE.read_text() == boards.device_module(boards.load()), \
        "device/lib/tinyml/boards.py is stale: run `tinyml boards --write`"
