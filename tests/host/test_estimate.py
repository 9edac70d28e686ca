"""`tinyml estimate`: sizes from the file and boards.json, latency from kernel measurements."""

import json
from pathlib import Path

import numpy as np
import pytest

import models
from tinyml_host import boards, cli, device_ram, estimate, export, romfs, tmdl


def _model():
    return export.convert(models.sine_tflite())


def test_ram_counts_every_array_and_buffer():
    model = _model()  # 1->16->16->1, per-channel, per-channel, per-tensor
    weights = 16 + 256 + 16
    bias = 4 * (16 + 16 + 1)
    quant = 5 * (16 + 16 + 1)       # int32 multiplier + int8 shift per channel
    params = 3 * 28                 # tml_fc_params per layer
    buffers = 1 + 1 + 2 * 16 + 4 * 16 + 4 + 8 * 1
    headers = estimate.OBJECT_HEADER * (estimate.ARRAYS_PER_LAYER * 3 + 7)
    assert estimate.model_ram(model) == weights + bias + quant + params + buffers + headers


def test_latency_uses_the_nearest_measured_shape():
    model = _model()
    costs = [{"cpu": "cortex-m4", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 4.0, "code_bytes": 900},
             {"cpu": "cortex-m4", "shape": "256x64", "kernel": "tinyml", "cycles_per_mac": 2.0, "code_bytes": 900},
             {"cpu": "cortex-m4", "shape": "16x16", "kernel": "reference", "cycles_per_mac": 9.0, "code_bytes": 300}]
    # every sine layer is nearest to 16x16: 288 MACs * 4 cycles at 64 MHz
    assert np.isclose(estimate.latency_us(model, costs, "cortex-m4", 64), 288 * 4.0 / 64)
    assert estimate.latency_us(model, costs, "xtensa-lx6", 160) is None
    rows = {r["board"]: r for r in estimate.estimate(model, 700, {"micropython": 1000, "circuitpython": 2000}, costs)}
    assert np.isclose(rows["nano33_ble_sense"]["native_us"], 288 * 4.0 / 64)
    assert rows["esp32"]["native_us"] is None
    assert rows["pico"]["flash_bytes"] == 1700 and rows["pico"]["macs"] == 288


def test_cli_estimate_for_one_board(tmp_path, capsys):
    path = tmp_path / "sine.tmdl"
    path.write_bytes(tmdl.encode(_model()))
    costs = tmp_path / "kernels.json"
    costs.write_text(json.dumps([{"cpu": "cortex-m0plus", "shape": "64x64", "kernel": "tinyml",
                                  "cycles_per_mac": 6.5, "code_bytes": 700}]))
    assert cli.main(["estimate", str(path), "--board", "pico", "--costs", str(costs)]) == 0
    out = capsys.readouterr().out
    assert "pico" in out and f"{288 * 6.5 / 125:.1f} us" in out
    assert cli.main(["estimate", str(path), "--board", "uno"]) == 1


def test_a_fresh_checkout_estimates_latency_from_the_shipped_table(tmp_path, monkeypatch, capsys):
    """No out/bench/kernels.json (no `make bench` here): the table the package ships is used."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "sine.tmdl"
    path.write_bytes(tmdl.encode(_model()))
    shipped = json.loads(estimate.SHIPPED_COSTS.read_text())
    assert {r["cpu"] for r in shipped} >= {"cortex-m4", "cortex-m0plus", "cortex-m33", "rv32imac"}
    assert cli.main(["estimate", str(path), "--board", "pico"]) == 0
    out = capsys.readouterr().out
    # sine's three layers (1x16, 16x16, 16x1) are each nearest the 16x16 row
    cpm = next(r["cycles_per_mac"] for r in shipped
               if (r["cpu"], r["shape"], r["kernel"]) == ("cortex-m0plus", "16x16", "tinyml"))
    assert f"{288 * cpm / 125:.1f} us" in out


# --- RAM from ROMFS and streamed, and where a model fits --------------------------------------

SHARED_MODELS = Path(__file__).resolve().parents[2].parent / "shared" / "models"
AD01 = SHARED_MODELS / "ad01_int8.tflite"
# MLPerf Tiny's anomaly detection autoencoder: 640 -> 128 x4 -> 8 -> 128 x4 -> 640
AD01_WIDTHS = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
AD01_WEIGHTS = sum(a * b for a, b in zip(AD01_WIDTHS, AD01_WIDTHS[1:]))  # 264,192 (its 264k MACs)
NANO_HEAP, NANO_ROMFS = 128 * 1024, 256 * 1024  # nrf52840_1M_256k.ld


def test_romfs_ram_is_buffers_and_plans_only():
    model = _model()  # 1->16->16->1
    buffers = 1 + 1 + 2 * 16 + 4 * 16 + 4 + 8 * 1
    plans = 3 * (28 + 5 * estimate.OBJECT_HEADER)
    assert estimate.romfs_ram(model) == buffers + plans + 7 * estimate.OBJECT_HEADER


def _board(heap, romfs_bytes, grows=False, ram_kb=256):
    return {"heap": {"bytes": heap, "kind": "documented", "grows": grows, "source": "test"},
            "romfs": {"bytes": romfs_bytes}, "ram_kb": ram_kb}


@pytest.mark.parametrize("board, fits, may_fit", [
    (_board(10_000, 0), "RAM", None),
    (_board(5_000, 8192), "ROMFS", None),       # not in RAM, image fits the partition
    (_board(5_000, 4096), "streamed", None),    # image too big for the partition
    (_board(1_000, 8192), None, None),          # not even the buffers fit
    (_board(1_000, 0, grows=True), None, "streamed"),  # over an initial heap that grows
])
def test_verdict_picks_the_first_way_that_fits(board, fits, may_fit):
    v = estimate.verdict(board, ram_fs=9_000, ram_romfs=2_000, ram_streamed=3_000, romfs_image=6_000)
    assert (v["fits"], v["may_fit"]) == (fits, may_fit)


@pytest.fixture(scope="module")
def ad01_tmdl(tmp_path_factory):
    if not AD01.exists():
        pytest.skip(f"{AD01} is absent (the shared real models live beside the repo)")
    out = tmp_path_factory.mktemp("ad01") / "ad01.tmdl"
    assert cli.main(["export", str(AD01), "-o", str(out), "--vectors", "0"]) == 0
    return out


def test_ad01_fits_the_nano_only_streamed(ad01_tmdl, capsys):
    model = tmdl.read(ad01_tmdl)
    assert [model.input_size] + [l.shape[0] for l in model.layers] == AD01_WIDTHS
    size = ad01_tmdl.stat().st_size
    rows = {r["board"]: r for r in estimate.estimate(model, size, {"micropython": 0, "circuitpython": 0}, [],
                                                     romfs_image_bytes=len(romfs.build_from([ad01_tmdl])[0]))}
    nano = rows["nano33_ble_sense"]
    # independent arithmetic: the weights alone exceed the Nano's heap, the file its partition
    assert nano["macs"] == AD01_WEIGHTS and AD01_WEIGHTS > NANO_HEAP
    assert nano["ram_bytes"] > AD01_WEIGHTS + 4 * (sum(AD01_WIDTHS[1:]))
    assert nano["romfs_image_bytes"] > size > NANO_ROMFS
    assert nano["romfs_partition_bytes"] == NANO_ROMFS and nano["heap_bytes"] == NANO_HEAP
    # from /rom: the buffers of the 640-wide layers and 10 plans, within the issue's 16 KB
    widest = 640
    assert 640 + 640 + 6 * widest < nano["ram_romfs_bytes"] <= 16 * 1024
    # streamed: the board's own figure (model._needs), and per invoke one read per block of
    # whole groups of 8 rows in 8 KB (at least 8 rows): 8 of 640 inputs, 64 of 128, all 8 of 128
    per_block = [min(n_out, max(8, 8192 // n_in // 8 * 8)) for n_in, n_out in zip(AD01_WIDTHS, AD01_WIDTHS[1:])]
    reads = sum(-(-n_out // r) for r, n_out in zip(per_block, AD01_WIDTHS[1:]))
    assert nano["stream"] == {"block_bytes": 8192, "window_bytes": 64 * 128, "reads": reads, "bytes": AD01_WEIGHTS}
    # 640 -> 128: 16 blocks of 8 rows; six 128 -> 128: 2 of 64; 128 -> 8, 8 -> 128: 1; 128 -> 640: 10 of 64
    assert reads == 16 + 6 * 2 + 1 + 1 + 10
    assert nano["ram_streamed_bytes"] == device_ram.ram_needed(ad01_tmdl.read_bytes(), "native")["stream"]
    assert 8 * 640 < nano["ram_streamed_bytes"] < 64 * 1024  # no layer's 80 KB of weights in RAM at once
    assert nano["verdict"] == {"ram": "no", "romfs": "no", "streamed": "yes", "fits": "streamed",
                               "may_fit": None}
    assert rows["pico"]["verdict"]["fits"] == "streamed"  # no partition in stock rp2 firmware
    # a custom Nano build with a 320 KB partition holds it in ROMFS
    custom = {"nano33_ble_sense": dict(boards.load()["nano33_ble_sense"], romfs={"bytes": 320 * 1024})}
    (row,) = estimate.estimate(model, size, {"micropython": 0, "circuitpython": 0}, [], board_facts=custom,
                               romfs_image_bytes=nano["romfs_image_bytes"])
    assert row["verdict"]["fits"] == "ROMFS"

    assert cli.main(["estimate", str(ad01_tmdl), "--board", "nano33_ble_sense"]) == 0
    out = capsys.readouterr().out
    assert "nano33_ble_sense: fits only streamed" in out
    assert f"streamed (load(path, stream=True), 8,192 B blocks): {reads} file reads, 264,192 B read per invoke" in out
    assert "in the stock 256.0 KB partition: does not fit" in out


# --- energy per inference and average power (boards.json power facts) --------------------------

def _energy_json(tmp_path, capsys, costs, *extra):
    path = tmp_path / "sine.tmdl"
    path.write_bytes(tmdl.encode(_model()))
    cost_file = tmp_path / "kernels.json"
    cost_file.write_text(json.dumps(costs))
    assert cli.main(["estimate", str(path), "--costs", str(cost_file), "--json", *extra]) == 0
    return {(r["board"], r["backend"]): r for r in json.loads(capsys.readouterr().out)}


def test_energy_json_against_hand_computed_figures(tmp_path, capsys):
    # the sine model: 288 MACs; cycles per MAC given here; clocks and currents as boards.json
    # states them, each checked below against its source's number (test_boards checks the sources)
    costs = [{"cpu": "xtensa-lx6", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 5.0},
             {"cpu": "xtensa-lx7", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 5.0},
             {"cpu": "cortex-m4", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 4.0},
             {"cpu": "cortex-m33", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 4.0},
             {"cpu": "cortex-m0plus", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 10.0}]
    rows = _energy_json(tmp_path, capsys, costs, "--rate", "10")
    assert {b for b, _ in rows} == {"nano33_ble_sense", "nano33_ble_sense_rev2", "esp32", "esp32s3", "pico",
                                    "pico_w", "pico2_w"}
    assert {k for _, k in rows} == {"native", "viper", "python"}
    esp = rows[("esp32", "native")]
    # ESP32 datasheet v3.5 Table 6: 44 mA busy at 160 MHz, light sleep 0.8 mA; 3.3 V
    latency = 288 * 5.0 / 160                       # 9 us
    energy = latency * 44.0 * 3.3 / 1000            # us * mA * V = nJ -> uJ: 1.3068 uJ
    avg = energy * 10 / 1000 + 0.8 * 3.3 * (1 - latency * 1e-6 * 10)
    assert esp["rate_hz"] == 10 and np.isclose(esp["latency_us"], 9.0)
    assert np.isclose(esp["energy_uj"], 1.3068) and np.isclose(esp["energy_uj"], energy)
    assert np.isclose(esp["avg_mw"], 2.6528304) and np.isclose(esp["avg_mw"], avg)
    assert esp["wait_state"] == "lightsleep" and esp["under_1mw"] is False and not esp["avg_is_lower_bound"]
    # ESP32-S3 datasheet, modem-sleep 160 MHz, one core busy: 54.6 mA; light sleep 240 uA; 3.3 V
    s3 = rows[("esp32s3", "native")]
    assert np.isclose(s3["energy_uj"], 9.0 * 54.6 * 3.3 / 1000)                 # 1.62162 uJ
    assert np.isclose(s3["avg_mw"], 0.80814492)        # 1.62162 uJ x 10/s + 0.24 mA x 3.3 V x (1 - 9e-5)
    assert s3["wait_state"] == "lightsleep" and s3["under_1mw"] is True
    # Nano: nRF52840 PS, CoreMark from flash with the LDO 6.3 mA; the idle wait's 3.16 uA
    # (System ON, RAM retained, wake on RTC) is only a floor for MicroPython's time.sleep_ms
    nano = rows[("nano33_ble_sense", "native")]
    assert np.isclose(nano["latency_us"], 18.0)                                # 288 * 4 / 64
    assert np.isclose(nano["energy_uj"], 0.37422)                              # 18 * 6.3 * 3.3 / 1000
    assert np.isclose(nano["avg_mw"], 0.37422 * 10 / 1000 + 0.00316 * 3.3 * (1 - 18e-6 * 10))
    assert nano["wait_state"] == "idle" and nano["avg_is_lower_bound"]
    assert nano["under_1mw"] is None        # about 0.014 mW, but only a floor: no claim either way
    # Pico 2 W: RP2350 datasheet Table 1446, CoreMark single core at 150 MHz: 11.78 mA at 3.3 V;
    # no documented current for either wait
    pico2 = rows[("pico2_w", "native")]
    assert np.isclose(pico2["energy_uj"], 288 * 4.0 / 150 * 11.78 * 3.3 / 1000)  # 0.29855 uJ
    assert pico2["avg_mw"] is None and "no documented idle current" in pico2["why_not"]
    # Pico (RP2040, 125 MHz): measured at the 5 V USB input (cpottle9/RP2-PowerControl, MicroPython
    # 1.23.0): 21.24 mA in a busy loop; between inferences a timed lightsleep, 1.5 mA (MicroPython
    # commit b004e7e397)
    pico = rows[("pico", "native")]
    assert np.isclose(pico["latency_us"], 23.04)                               # 288 * 10 / 125
    assert np.isclose(pico["energy_uj"], 2.446848)                             # 23.04 * 21.24 * 5 / 1000
    assert np.isclose(pico["avg_mw"], 7.52274048)      # 2.446848 uJ x 10/s + 1.5 mA x 5 V x (1 - 2.304e-4)
    assert pico["wait_state"] == "lightsleep" and pico["active_kind"] == "measured" and pico["under_1mw"] is False
    # Pico W, same measurements with the CYW43439 off: 20.94 mA busy, 1.29 mA in lightsleep
    pico_w = rows[("pico_w", "native")]
    assert np.isclose(pico_w["energy_uj"], 2.412288)                           # 23.04 * 20.94 * 5 / 1000
    assert np.isclose(pico_w["avg_mw"], 6.4726368)     # 2.412288 uJ x 10/s + 1.29 mA x 5 V x (1 - 2.304e-4)
    # ESP32 viper (xtensawin, not run under qemu here): no latency
    assert rows[("esp32", "viper")]["latency_us"] is None and rows[("esp32", "viper")]["energy_uj"] is None


def test_a_floor_over_the_budget_is_still_not_under_it():
    """A lower-bound wait current can rule 1 mW out, never in."""
    facts = boards.load()
    nano = facts["nano33_ble_sense"]
    slow = estimate.energy_row("nano33_ble_sense", nano, "native", 18.0, rate_hz=1.0)
    assert slow["avg_is_lower_bound"] and slow["under_1mw"] is None
    # 1000 inferences of 18 us each second: 18 ms busy at 6.3 mA x 3.3 V = 0.374 mW + the floor
    busy = estimate.energy_row("nano33_ble_sense", nano, "native", 18.0, rate_hz=1000.0)
    assert np.isclose(busy["avg_mw"], 0.37422 + 0.00316 * 3.3 * (1 - 0.018)) and busy["under_1mw"] is None
    heavy = estimate.energy_row("nano33_ble_sense", nano, "native", 600.0, rate_hz=1000.0)   # 60 % busy
    assert heavy["avg_mw"] > 1.0 and heavy["under_1mw"] is False


def test_average_power_at_a_slow_rate_is_mostly_the_sleep(tmp_path, capsys):
    costs = [{"cpu": "xtensa-lx6", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 5.0}]
    esp = _energy_json(tmp_path, capsys, costs, "--rate", "0.1", "--board", "esp32")[("esp32", "native")]
    assert np.isclose(esp["avg_mw"], 1.3068 * 0.1 / 1000 + 0.8 * 3.3 * (1 - 9e-6 * 0.1))


def test_a_rate_the_cpu_cannot_keep_up_with_is_said(tmp_path, capsys):
    costs = [{"cpu": "xtensa-lx6", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 5.0}]
    esp = _energy_json(tmp_path, capsys, costs, "--rate", "200000", "--board", "esp32")[("esp32", "native")]
    assert esp["avg_mw"] is None and "no time left to sleep" in esp["why_not"]
    path = tmp_path / "sine.tmdl"
    assert cli.main(["estimate", str(path), "--rate", "0"]) == 1
    assert "rate must be above 0" in capsys.readouterr().err


def test_energy_table_names_what_it_cannot_compute(tmp_path, capsys):
    path = tmp_path / "sine.tmdl"
    path.write_bytes(tmdl.encode(_model()))
    costs = tmp_path / "kernels.json"
    costs.write_text(json.dumps([{"cpu": c, "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 4.0}
                                 for c in ("cortex-m4", "cortex-m33")]))
    assert cli.main(["estimate", str(path), "--board", "pico2_w", "--costs", str(costs)]) == 0
    out = capsys.readouterr().out
    why = next(line for line in out.splitlines() if "cannot compute" in line)  # said once for every backend
    assert "0.299 uJ" in out and why.strip().startswith("pico2_w native") and "no documented idle current" in why
    # the Nano's wait is a floor: its average is printed as one
    assert cli.main(["estimate", str(path), "--board", "nano33_ble_sense", "--costs", str(costs)]) == 0
    out = capsys.readouterr().out
    assert "0.374 uJ" in out and f">= {0.37422 / 1000 + 0.00316 * 3.3 * (1 - 18e-6):.3f} mW" in out
    assert "under 1 mW cannot be claimed" in out


def test_an_ad01_shaped_model_is_shown_beside_mlperf_tiny(tmp_path, capsys):
    """With a flat 2 cycles/MAC on the Nano's Cortex-M4, AD01's 264,192 MACs at 64 MHz take
    264192 * 2 / 64 us; MLPerf's TFLM reference, 10.05 ms at 120 MHz, is 4.56 cycles/MAC."""
    import models

    path = tmp_path / "ad01.tmdl"
    (tmp_path / "ad01.tflite").write_bytes(models.ad01_shaped_tflite())
    assert cli.main(["export", str(tmp_path / "ad01.tflite"), "-o", str(path), "--vectors", "0"]) == 0
    costs = tmp_path / "kernels.json"
    costs.write_text(json.dumps([{"cpu": "cortex-m4", "shape": s, "kernel": "tinyml", "cycles_per_mac": 2.0,
                                  "code_bytes": 2000} for s in ("16x16", "256x64")]))
    capsys.readouterr()
    assert cli.main(["estimate", str(path), "--board", "nano33_ble_sense", "--costs", str(costs)]) == 0
    printed = capsys.readouterr().out
    assert "MLPerf Tiny" in printed and "not like for like" in printed.lower()
    line = next(l for l in printed.splitlines() if "tinyml, nano33_ble_sense" in l)
    assert f"{264192 * 2 / 64 / 1000:.2f} ms" in line and "2.00" in line
    line = next(l for l in printed.splitlines() if "TFLM + CMSIS-NN" in l)
    assert "10.05 ms" in line and f"{10.05e3 * 120 / 264192:.2f}" in line


def test_other_models_get_no_mlperf_table(tmp_path, capsys):
    path = tmp_path / "sine.tmdl"
    path.write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    assert cli.main(["estimate", str(path), "--board", "pico"]) == 0
    assert "MLPerf" not in capsys.readouterr().out


def test_every_board_with_a_latency_and_a_busy_current_gets_its_energy(tmp_path, monkeypatch, capsys):
    """`tinyml estimate --json` with the shipped kernel costs, for every board: energy wherever the
    native latency and boards.json's busy current exist, average power wherever the wait current
    exists too, each recomputed here from the row's latency and boards.json's inputs."""
    monkeypatch.chdir(tmp_path)                      # no out/bench/kernels.json: the shipped table
    path = tmp_path / "sine.tmdl"
    path.write_bytes(tmdl.encode(_model()))
    assert cli.main(["estimate", str(path), "--json", "--rate", "5"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["backend"] == "native"]
    facts = boards.load()
    assert {r["board"] for r in rows} == set(facts)
    with_energy = set()
    for r in rows:
        power = facts[r["board"]]["power"]
        busy_ma, volts = power["active"]["ma"], power["supply_v"]
        timed_light = power["sleep_modes"]["lightsleep_timed"] and power["lightsleep"]["ma"] is not None
        wait = power["lightsleep"] if timed_light else power["idle"]
        if r["latency_us"] is None or busy_ma is None:
            assert r["energy_uj"] is None and r["why_not"], r["board"]
            continue
        with_energy.add(r["board"])
        assert np.isclose(r["energy_uj"], r["latency_us"] * busy_ma * volts / 1000), r["board"]
        if wait["ma"] is None:
            assert r["avg_mw"] is None and "no documented" in r["why_not"], r["board"]
        else:
            busy = r["latency_us"] * 1e-6 * 5
            assert np.isclose(r["avg_mw"], r["energy_uj"] * 5 / 1000 + wait["ma"] * volts * (1 - busy)), r["board"]
            assert r["avg_is_lower_bound"] == bool(wait.get("lower_bound"))
    # the shipped table has Cortex-M0+, -M4 and -M33 costs; their boards have busy currents (the
    # M4's and M33's from vendor documents, the Pico's and Pico W's measured)
    assert {"nano33_ble_sense", "nano33_ble_sense_rev2", "pico", "pico_w", "pico2_w"} <= with_energy


def _dense(n_in, n_out):
    rng = np.random.default_rng(n_in + n_out)
    return tmdl.Layer(rng.integers(-128, 128, (n_out, n_in)).astype(np.int8), np.zeros(n_out, np.int32),
                      np.array([1 << 30], np.int32), np.array([-8], np.int8), -128, 127, 0)


def test_weights_in_flash_add_the_cache_misses_boards_json_documents():
    # one 640x128 layer: 81,920 weights + 512 B bias + 5 B multiplier and shift, far over half
    # the RP2040's 16 KB XIP cache: every byte misses on every invoke
    model = tmdl.TmdlModel.dense([_dense(640, 128)], 1.0, 0, 1.0, 0)
    costs = [{"cpu": "cortex-m0plus", "shape": "640x128", "kernel": "tinyml", "cycles_per_mac": 5.0},
             {"cpu": "cortex-m4", "shape": "640x128", "kernel": "tinyml", "cycles_per_mac": 2.0},
             {"cpu": "cortex-m33", "shape": "640x128", "kernel": "tinyml", "cycles_per_mac": 2.0}]
    rows = {r["board"]: r for r in estimate.estimate(model, 90_000, {"micropython": 1000, "circuitpython": 2000}, costs)}
    read = 640 * 128 + 4 * 128 + 5
    ram_us = 640 * 128 * 5.0 / 125
    pico = rows["pico"]
    assert np.isclose(pico["native_us"], ram_us)
    assert np.isclose(pico["native_flash_us"], ram_us + read * 7.0 / 125)   # 7 cycles per byte (boards.json)
    assert "82,437 B of sections miss the 16 KB flash cache" in pico["flash_note"]
    assert np.isclose(rows["pico2_w"]["native_flash_us"], 640 * 128 * 2.0 / 150 + read * 10.5 / 150)
    # no documented figure for the nRF52840: not priced, and the reason is given
    nano = rows["nano33_ble_sense"]
    assert nano["native_us"] is not None and nano["native_flash_us"] is None
    assert "no documented flash read cost" in nano["flash_note"]
    # no latency at all on the ESP32s: nothing to add to
    assert rows["esp32"]["native_flash_us"] is None


def test_sections_that_fit_half_the_cache_cost_nothing_after_the_first_invoke():
    model = _model()  # sine: 288 weights, a few hundred bytes of sections
    costs = [{"cpu": "cortex-m0plus", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 12.0}]
    rows = {r["board"]: r for r in estimate.estimate(model, 700, {"micropython": 1000, "circuitpython": 2000}, costs)}
    assert rows["pico"]["native_flash_us"] == rows["pico"]["native_us"]
    assert "stay in the 16 KB flash cache" in rows["pico"]["flash_note"]


def test_cli_estimate_shows_latency_with_weights_in_flash(tmp_path, capsys):
    path = tmp_path / "big.tmdl"
    path.write_bytes(tmdl.encode(tmdl.TmdlModel.dense([_dense(640, 128)], 1.0, 0, 1.0, 0)))
    costs = tmp_path / "kernels.json"
    costs.write_text(json.dumps([{"cpu": "cortex-m0plus", "shape": "640x128", "kernel": "tinyml",
                                  "cycles_per_mac": 5.0, "code_bytes": 700}]))
    assert cli.main(["estimate", str(path), "--board", "pico", "--costs", str(costs)]) == 0
    out = capsys.readouterr().out
    expected = 640 * 128 * 5.0 / 125 + (640 * 128 + 4 * 128 + 5) * 7.0 / 125
    in_flash = " ".join(out.split("in flash ")[1].split("viper ")[0].split())  # the details' line, unfolded
    assert in_flash.startswith(f"{expected:.1f} us: 82,437 B of sections miss"), in_flash
    assert cli.main(["estimate", str(path), "--board", "pico", "--costs", str(costs), "--json"]) == 0
    native = next(r for r in json.loads(capsys.readouterr().out) if r["backend"] == "native")
    assert np.isclose(native["latency_flash_us"], expected) and "7.0 cycles per byte" in native["flash_note"]


# --- viper latency per board (data/viper_costs.json, native/tools/viper_bench.py) ----------------

def _shipped_viper():
    if not estimate.VIPER_COSTS.exists():
        pytest.skip("no data/viper_costs.json shipped (native/tools/viper_bench.py writes it)")
    return json.loads(estimate.VIPER_COSTS.read_text())["cpus"]


def _viper_by_hand(cost, mhz):
    """The sine model: layers 1->16, 16->16, 16->1: 3 layers, 33 outputs, 288 MACs."""
    instructions = cost["per_invoke"] + 3 * cost["per_layer"] + 33 * cost["per_output"] + 288 * cost["per_mac"]
    outside_the_loop = instructions - 288 * cost["loop_instructions_per_mac"]
    return (288 * cost["loop_cycles_per_mac"] + outside_the_loop) / mhz


def test_viper_latency_per_board_from_the_shipped_table_by_hand():
    shipped = _shipped_viper()
    rows = {r["board"]: r for r in estimate.estimate(_model(), 700, {"micropython": 1000, "circuitpython": 2000}, [])}
    for board, cpu, mhz in (("nano33_ble_sense", "cortex-m4f", 64), ("pico", "cortex-m0plus", 125),
                            ("pico2_w", "cortex-m33", 150)):
        if "why_not" in shipped[cpu]:
            assert rows[board]["viper_us"] is None and rows[board]["viper_basis"] == shipped[cpu]["why_not"]
            continue
        assert np.isclose(rows[board]["viper_us"], _viper_by_hand(shipped[cpu], mhz))
        assert "qemu" in rows[board]["viper_basis"]
    # the ESP32s run the xtensawin emitter, which no qemu port here runs
    assert rows["esp32"]["viper_us"] is None and "xtensawin" in rows["esp32"]["viper_basis"]


def test_viper_latency_with_a_given_table():
    # 1000 + 3*200 + 33*10 + 288*50 = 16,330 instructions, 288*48 of them in the MAC loop at
    # 60 cycles per MAC: 17,280 + (16,330 - 13,824) = 19,786 cycles, at 64 MHz 309.15625 us
    costs = {"cortex-m4f": {"emitter": "armv7m", "measured_on": "mps2-an385", "per_invoke": 1000, "per_layer": 200,
                            "per_output": 10, "per_mac": 50, "loop_instructions_per_mac": 48, "loop_cycles_per_mac": 60},
             "xtensa-lx6": {"why_not": "not run here"}}
    rows = {r["board"]: r for r in estimate.estimate(_model(), 700, {"micropython": 1000, "circuitpython": 2000}, [],
                                                     viper_costs=costs)}
    assert np.isclose(rows["nano33_ble_sense"]["viper_us"], 309.15625)
    assert rows["esp32"]["viper_us"] is None and rows["esp32"]["viper_basis"] == "not run here"
    assert rows["pico"]["viper_us"] is None and "no viper measurement for cortex-m0plus" in rows["pico"]["viper_basis"]


def test_estimate_json_and_table_carry_the_viper_latency_and_its_basis(tmp_path, capsys):
    shipped = _shipped_viper()
    if "why_not" in shipped["cortex-m0plus"]:
        pytest.skip("the shipped table has no armv6m (Pico) figure")
    rows = _energy_json(tmp_path, capsys, [], "--board", "pico")
    viper = rows[("pico", "viper")]
    assert np.isclose(viper["latency_us"], _viper_by_hand(shipped["cortex-m0plus"], 125))
    assert "instruction counts on MicroPython's qemu port" in viper["latency_basis"]
    assert cli.main(["estimate", str(tmp_path / "sine.tmdl"), "--board", "pico"]) == 0
    out = capsys.readouterr().out
    viper_line = next(line for line in out.splitlines() if line.strip().startswith("viper "))  # the details
    assert f"viper       {_viper_by_hand(shipped['cortex-m0plus'], 125):,.0f} us: " in viper_line


def test_a_damaged_viper_table_is_an_error_naming_the_field(tmp_path):
    from tinyml_host.errors import TinymlError
    from tinyml_host.inputs import read_viper_costs

    bad = tmp_path / "viper_costs.json"
    bad.write_text(json.dumps({"cpus": {"cortex-m4f": {"per_invoke": 1, "per_layer": 1, "per_output": 1,
                                                       "per_mac": -5, "loop_instructions_per_mac": 1,
                                                       "loop_cycles_per_mac": 1}}}))
    with pytest.raises(TinymlError, match="cortex-m4f.*'per_mac' is -5"):
        read_viper_costs(bad)
    assert read_viper_costs(tmp_path / "absent.json") == {}


def test_block_option_prices_another_block_size(ad01_tmdl, capsys):
    # 1 KB: 8 rows of 640 inputs (the least a block holds), 8 of 128, all 8 of 128 and 8 of 8
    assert cli.main(["estimate", str(ad01_tmdl), "--board", "pico", "--block", "1024"]) == 0
    reads = 16 + 6 * 16 + 1 + 1 + 80
    assert (f"streamed (load(path, stream=1024), 1,024 B blocks): {reads} file reads, 264,192 B read per invoke; "
            "window 5,120 B") in " ".join(capsys.readouterr().out.split())   # folded at 100 columns
    with pytest.raises(SystemExit):
        cli.main(["estimate", str(ad01_tmdl), "--block", "0"])
    assert "'0' is not a whole number of bytes above 0" in capsys.readouterr().err
