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
    (lambda b: b["esp32"].pop("power"), "power"),
    (lambda b: b["esp32"]["power"]["lightsleep"].pop("source"), "source"),
    (lambda b: b["esp32"]["power"]["active"].update(ma=-1.0), "ma"),
    (lambda b: b["pico2_w"]["power"]["idle"].update(kind="datasheet"), "kind"),  # null figure, known kind
    (lambda b: b["esp32"]["power"]["idle"].update(kind="unknown"), "kind"),      # a figure called unknown
    (lambda b: b["pico"]["power"]["sleep_modes"].update(lightsleep_timed="yes"), "lightsleep_timed"),
    (lambda b: b["nano33_ble_sense"]["power"]["idle"].update(lower_bound=False), "lower_bound"),  # true or absent
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


POWER_STATES = ("active", "idle", "lightsleep", "deepsleep", "ble_advertising", "ble_connection")


def test_every_board_has_sourced_power_figures_or_says_why_not():
    for board_id, b in boards.load().items():
        power = b["power"]
        assert 1.0 <= power["supply_v"] <= 5.5 and power["supply_source"]
        for state in POWER_STATES:
            figure = power[state]
            if figure["ma"] is None:
                assert figure["kind"] == "unknown" and len(figure["source"]) >= 20, (board_id, state)
            else:
                assert figure["kind"] != "unknown", (board_id, state)


def test_sleep_modes_follow_micropythons_ports():
    b = boards.load()
    # nrf: machine.lightsleep is one WFE and deepsleep a reset; esp32: light sleep powers the radio down;
    # rp2: a timed lightsleep keeps the USB clock when a host configured the board
    nano = b["nano33_ble_sense"]["power"]["sleep_modes"]
    assert not nano["lightsleep_timed"] and nano["deepsleep_resets"] and "__WFE" in nano["source"]
    for board in ("esp32", "esp32s3"):
        modes = b[board]["power"]["sleep_modes"]
        assert modes["lightsleep_timed"] and modes["lightsleep_keeps_ble"] is False
    for board in ("pico", "pico_w", "pico2_w"):
        modes = b[board]["power"]["sleep_modes"]
        assert modes["lightsleep_timed"] and modes["lightsleep_keeps_usb"] is True
    # the device's copy: (timed, keeps BLE, keeps USB), an undocumented null counted as no
    from tinyml_host.boards import device_module
    namespace = {}
    exec(device_module(b), namespace)
    assert namespace["BOARDS"]["pico_w"]["sleep"] == (True, False, True)
    assert namespace["BOARDS"]["esp32"]["sleep"] == (True, False, False)
    assert namespace["BOARDS"]["nano33_ble_sense"]["sleep"] == (False, False, False)


def test_documented_figures_are_the_sources_numbers():
    """The figures as the sources state them (ESP32 datasheet Table 6, Espressif's ESP32-S3 figures,
    the rp2 lightsleep commit), so an edit that changes a number without its source fails here."""
    b = boards.load()
    assert b["esp32"]["power"]["lightsleep"]["ma"] == 0.8 and "Light-sleep 0.8 mA" in b["esp32"]["power"]["lightsleep"]["source"]
    assert b["esp32"]["power"]["active"]["ma"] == 44.0 and "27 mA ~ 44 mA" in b["esp32"]["power"]["active"]["source"]
    assert b["esp32s3"]["power"]["lightsleep"]["ma"] == 0.24 and "240 uA" in b["esp32s3"]["power"]["lightsleep"]["source"]
    assert b["pico"]["power"]["lightsleep"]["ma"] == 1.5 and "b004e7e397" in b["pico"]["power"]["lightsleep"]["source"]


def test_vendor_figures_are_their_documents_numbers():
    """nRF52840 PS (CPU running, Sleep), ESP32 datasheet v5.2 Table 4-2, ESP32-S3 datasheet
    modem-sleep and low-power tables, RP2350 datasheet Table 1446: each figure as its source states
    it, and the RP2350 busy current as the sum of the row's supply currents it names."""
    b = boards.load()
    for board in ("nano33_ble_sense", "nano33_ble_sense_rev2"):
        power = b[board]["power"]
        assert power["active"]["ma"] == 6.3 and "6.3 mA with the LDO" in power["active"]["source"]
        assert "nrf.dcdc(True)" in power["active"]["source"]          # why the LDO row
        idle = power["idle"]
        assert idle["ma"] == 3.16 / 1000 and "ION_RAMON_RTC" in idle["source"] and "3.16 uA" in idle["source"]
        assert idle["lower_bound"] is True and "RTC_TICK_INCREASE_MSEC" in idle["source"]
    esp = b["esp32"]["power"]
    assert esp["deepsleep"]["ma"] == 10 / 1000 and "RTC timer + RTC memory: 10 uA" in esp["deepsleep"]["source"]
    s3 = b["esp32s3"]["power"]
    assert s3["active"]["ma"] == 54.6 and "the other core in idle state' 54.6 mA" in s3["active"]["source"]
    assert s3["idle"]["ma"] == 42.3 and "'WAITI (Dual core in idle state)' 42.3 mA" in s3["idle"]["source"]
    assert s3["deepsleep"]["ma"] == 7 / 1000 and "RTC peripherals powered down: 7 uA" in s3["deepsleep"]["source"]
    pico2 = b["pico2_w"]["power"]
    supplies_ua = (11000, 212, 455, 22, 1, 90)         # Table 1446, CoreMark single core @150MHz
    assert pico2["active"]["kind"] == "derived"
    assert pico2["active"]["ma"] == round(sum(supplies_ua) / 1000, 2) == 11.78
    assert all(f" {ua} " in pico2["active"]["source"] for ua in supplies_ua)
    assert pico2["supply_v"] == 3.3 and b["pico2_w"]["cpu_mhz"] == 150   # the table's supplies and clock


def test_no_vendor_figure_means_null_with_what_was_checked():
    """Where the vendors document no figure for the state MicroPython uses, the entry stays null and
    names the document checked and what it gives instead."""
    b = boards.load()
    pico2 = b["pico2_w"]["power"]
    assert pico2["idle"]["ma"] is None and "Table 1445" in pico2["idle"]["source"]
    assert pico2["lightsleep"]["ma"] is None and "pico_low_power" in pico2["lightsleep"]["source"]
    for board in ("esp32", "esp32s3"):
        assert "low-power-mode-ble.rst" in b[board]["power"]["ble_advertising"]["source"]
        assert "sleep_at_examples.rst" in b[board]["power"]["ble_connection"]["source"]
    for board in ("pico_w", "pico2_w"):
        for state in ("ble_advertising", "ble_connection"):
            figure = b[board]["power"][state]
            assert figure["ma"] is None and "CYW43439 datasheet" in figure["source"], (board, state)


def test_rp2040_boards_figures_are_the_measurements_numbers():
    """Pico and Pico W: no vendor figure for MicroPython's busy CPU or time.sleep_ms wait, so the
    figures are one person's measurements (cpottle9/RP2-PowerControl, MicroPython 1.23.0, 125 MHz,
    at the 5 V USB input): each as that table prints it, named as measured and by whom."""
    b = boards.load()
    table = {"pico": {"active": 21.24, "idle": 18.80}, "pico_w": {"active": 20.94, "idle": 18.35, "lightsleep": 1.29}}
    for board, figures in table.items():
        power = b[board]["power"]
        assert power["supply_v"] == 5.0 and b[board]["cpu_mhz"] == 125      # measured at USB, default clock
        for state, ma in figures.items():
            figure = power[state]
            assert figure["ma"] == ma and figure["kind"] == "measured", (board, state)
            assert "cpottle9/RP2-PowerControl" in figure["source"] and "37adb48" in figure["source"], (board, state)
            assert f"{ma:.2f} mA" in figure["source"] and "1.23.0" in figure["source"], (board, state)
        assert "'busy wait' at 125 MHz" in power["active"]["source"]
        assert "'normal sleep_ms' at 125 MHz" in power["idle"]["source"]
    # the Pico W's figures are with the radio chip off; its lightsleep says what changes with BLE on
    assert all("CYW43439 was powered down" in b["pico_w"]["power"][s]["source"] for s in ("active", "idle", "lightsleep"))
    assert "with BLE active" in b["pico_w"]["power"]["lightsleep"]["source"]
    # the Pico keeps MicroPython's own lightsleep figure and names the second measurement
    assert "1.29 mA" in b["pico"]["power"]["lightsleep"]["source"]


def test_flash_read_costs_follow_their_sources():
    """Weights in flash (docs/benchmarks.md): each board's figure or why there is none, and the
    RP2040's worked out again from the facts its source names, so a number edited without its
    source fails here."""
    b = boards.load()
    for board_id, board in b.items():
        facts = board["flash_read"]
        if facts["cycles_per_byte"] is None:
            assert facts["kind"] == "unknown" and len(facts["source"]) >= 20, board_id
        else:
            assert facts["kind"] != "unknown" and facts["cache_bytes"] > 0, board_id
    # RP2040: a miss fills one 8-byte line through a quad I/O continuous read: 32 address + mode
    # bits on 4 lines, 4 dummy clocks, 64 data bits on 4 lines, at clk_sys / PICO_FLASH_SPI_CLKDIV (2)
    spi_clocks = 32 // 4 + 4 + 64 // 4
    for board_id in ("pico", "pico_w"):
        facts = b[board_id]["flash_read"]
        assert facts["cycles_per_byte"] == spi_clocks * 2 / 8 == 7.0 and facts["cache_bytes"] == 16 * 1024
        assert "PICO_FLASH_SPI_CLKDIV" in facts["source"] and "8-byte lines" in facts["source"]
    # RP2350: 28 QSPI clocks at clk_sys / 3 per 8-byte line, as reported
    rp2350 = b["pico2_w"]["flash_read"]
    assert rp2350["cycles_per_byte"] == 28 * 3 / 8 and rp2350["kind"] == "reported" and "1903" in rp2350["source"]
    for board_id in ("nano33_ble_sense", "nano33_ble_sense_rev2", "esp32", "esp32s3"):
        assert b[board_id]["flash_read"]["cycles_per_byte"] is None, board_id
