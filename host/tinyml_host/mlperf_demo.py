"""`tinyml demo mlperf` (`make demo-mlperf`): MLPerf Tiny's models per board, from `tinyml estimate`.

For each model of ../shared/models (KWS, IC, VWW, streaming wake word, AD01; left out with a
line when absent): export (tflm rounding), the ROMFS image, then estimate.estimate's rows and
energy at one inference per second: where it fits (RAM, the stock ROMFS partition, streamed),
the RAM that way needs (the device's own figure for graphs), the native latency and the energy
per inference where boards.json has the board's power figures. Estimates, not measurements.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import estimate, export, romfs, tmdl

# (name, file) as native/tools/model_bench.py lists them; Plumerai's v1.1 latency on the
# Cortex-M4 at 120 MHz (../shared/models/README.md)
MODELS = [("KWS", "kws_ref_model.tflite"), ("IC", "pretrainedResnet_quant.tflite"), ("VWW", "vww_96_int8.tflite"),
          ("StrWW", "str_ww_ref_model.tflite"), ("AD01", "ad01_int8.tflite")]


def rows_for(models_dir: Path, out: Path, say=print) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    costs = estimate.load_costs()
    package = estimate.package_sizes()
    table = []
    for name, file in MODELS:
        src = models_dir / file
        if not src.exists():
            say(f"{name} left out: {src} is not there")
            continue
        model = export.convert(src.read_bytes())
        data = tmdl.encode(model)
        path = out / f"{name.lower()}.tmdl"
        path.write_bytes(data)
        image, _ = romfs.build_from([path])
        rows = estimate.estimate(model, len(data), package, costs, romfs_image_bytes=len(image), tmdl_data=data)
        energy = {e["board"]: e for e in estimate.energy(rows, 1.0) if e["backend"] == "native"}
        for r in rows:
            v = r["verdict"]
            way = v["fits"] or v["may_fit"]
            ram = {"RAM": r["ram_bytes"], "ROMFS": r["ram_romfs_bytes"], "streamed": r["ram_streamed_bytes"]}
            table.append({"model": name, "board": r["board"], "cpu": r["cpu"], "cpu_mhz": r["cpu_mhz"],
                          "tmdl_bytes": len(data), "macs": r["macs"], "fits": v["fits"], "may_fit": v["may_fit"],
                          "ram_bytes": ram.get(way), "ram": v["ram"], "romfs": v["romfs"], "streamed": v["streamed"],
                          "native_ms": None if r["native_us"] is None else r["native_us"] / 1000,
                          "native_flash_ms": None if r["native_flash_us"] is None else r["native_flash_us"] / 1000,
                          "energy_uj": energy[r["board"]]["energy_uj"],
                          "why_no_energy": energy[r["board"]]["why_not"]})
    return table


def print_table(table: list[dict]) -> None:

    from . import term

    term.say("MLPerf Tiny per board (tinyml estimate: not measured on the boards); `tinyml boards` lists "
             "each board's CPU and clock")
    t = term.table()
    for c in ("model", "board", "fits", "RAM that way", "native ms", "in flash ms", "energy"):
        t.add_column(c, justify="left" if c in ("model", "board", "fits") else "right")
    for r in table:
        fits = r["fits"] or (f"maybe {r['may_fit']}" if r["may_fit"] else "no")
        t.add_row(r["model"], r["board"], fits,
                  f"{r['ram_bytes']:,} B" if r["ram_bytes"] else "-",
                  f"{r['native_ms']:.1f}" if r["native_ms"] is not None else "-",
                  f"{r['native_flash_ms']:.1f}" if r["native_flash_ms"] is not None else "-",
                  f"{r['energy_uj'] / 1000:.2f} mJ" if r["energy_uj"] is not None else "-")
        if r is not table[-1] and table[table.index(r) + 1]["model"] != r["model"]:
            t.add_section()
    term.show(t)
    term.say("fits: where the model loads on the stock firmware (RAM, ROMFS or streamed; RAM / ROMFS / "
             "streamed each: mlperf_demo.json). native: the kernels under make bench's cycle model (zero wait "
             "states), per op kind (data/op_costs.json); in flash: with the weights read from flash in place; "
             "energy per inference: that latency x boards.json's busy current (- where it has no figure).")


def main(out_dir: str = "out", models_dir: Path | None = None) -> int:
    models_dir = models_dir or Path(__file__).resolve().parents[2].parent / "shared" / "models"
    out = Path(out_dir) / "mlperf"
    table = rows_for(Path(models_dir), out)
    print_table(table)
    (out / "mlperf_demo.json").write_text(json.dumps(table, indent=1))
    print(f"results: {out / 'mlperf_demo.json'}")
    return 0
