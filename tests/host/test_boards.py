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
