"""boards.json is the single source of truth; it is checked by a JSON Schema and the device's copy is generated."""

import json

import jsonschema
import pytest

from tinyml_host import boards

IDS = {"nano33_ble_sense", "nano33_ble_sense_rev2", "esp32", "esp32s3", "pico", "pico_w", "pico2_w"}
SCHEMA = json.loads((boards.ROOT / "docs" / "boards.schema.json").read_text())


def test_boards_json_matches_its_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(json.loads(boards.BOARDS_JSON.read_text()), SCHEMA,
                        cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("mutate, where", [
    (lambda b: b["pico"].pop("led"), "led"),
    (lambda b: b["pico"]["i2c"]["micropython"].update(scl="GP5"), "scl"),
    (lambda b: b["esp32"].update(natmod_arch="arm64"), "natmod_arch"),
    (lambda b: b["pico_w"]["sensors"][0].update(addresses=[0x200]), "addresses"),
    (lambda b: b["pico"]["romfs"].update(bytes=5000), "multipleOf"),
    (lambda b: b["esp32"]["heap"].pop("source"), "source"),
    (lambda b: b["nano33_ble_sense"]["heap"].update(kind="guessed"), "kind"),
])
def test_schema_rejects_broken_entries(mutate, where):
    data = json.loads(boards.BOARDS_JSON.read_text())
    mutate(data["boards"])
    with pytest.raises(jsonschema.ValidationError) as e:
        jsonschema.validate(data, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert where in str(e.value.path) or where in e.value.message or where in str(e.value.schema_path)


def test_all_supported_boards_present():
    assert set(boards.load()) == IDS


def test_device_module_is_generated_from_boards_json():
    assert boards.DEVICE_MODULE.read_text() == boards.device_module(boards.load()), \
        "device/lib/tinyml/boards.py is stale: run `tinyml boards --write`"


def test_wireless_pico_leds_are_external_pwm_pins():
    b = boards.load()
    for board in ("pico_w", "pico2_w"):
        assert b[board]["led"]["pwm"] and b[board]["led"]["micropython"] == 15
        assert "cannot PWM" in b[board]["led"]["note"]


def test_stock_romfs_partitions_and_heaps_name_their_source():
    b = boards.load()
    # MicroPython's sources: nrf52840 builds reserve 256 KB; rp2 (MICROPY_HW_ROMFS_BYTES) and
    # esp32 (no romfs partition, MICROPY_VFS_ROM off) stock builds reserve none
    assert {i: b[i]["romfs"]["bytes"] for i in b} == {
        "nano33_ble_sense": 262144, "nano33_ble_sense_rev2": 262144,
        "esp32": 0, "esp32s3": 0, "pico": 0, "pico_w": 0, "pico2_w": 0}
    assert "nrf52840_1M_256k.ld" in b["nano33_ble_sense"]["romfs"]["source"]
    assert "MICROPY_HW_ROMFS_BYTES" in b["pico"]["romfs"]["custom_build"]
    assert "partitions-4MiB-romfs.csv" in b["esp32"]["romfs"]["custom_build"]
    nano_heap = b["nano33_ble_sense"]["heap"]
    assert (nano_heap["bytes"], nano_heap["kind"]) == (128 * 1024, "documented")  # the linker's minimum
    assert "_minimum_heap_size = 128K" in nano_heap["source"]
    for board_id, facts in b.items():
        assert facts["heap"]["bytes"] < facts["ram_kb"] * 1024, board_id
