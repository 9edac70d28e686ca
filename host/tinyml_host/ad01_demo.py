"""`tinyml demo ad01` (`make demo-ad01`): a real model on real-size boards.

MLPerf Tiny's anomaly-detection model AD01 (../shared/models/ad01_int8.tflite, a dense
autoencoder 640 -> 128x4 -> 8 -> 128x4 -> 640, 264k MACs) when that folder is there, else an
autoencoder of the same shape that `tinyml train ad01` makes from synthetic machine sound.

1. export it to .tmdl (tflm rounding, 16 golden vectors from the TFLite Micro interpreter);
2. `tinyml estimate`'s verdict per board: fits in RAM, in the stock ROMFS partition, only
   streamed, or not;
3. on the virtual board with each board's own heap (free after boot as on the unix port given
   that heap; the ROMFS partition it holds in heap is not counted, sim.py), every way the estimate says fits, plus
   the ways it says do not (to check the verdict: they must end in MemoryError), and a ROMFS
   partition of a custom build where the stock one is too small: RAM taken by `load`
   (gc.mem_alloc around it), golden vectors, latency and bytes allocated per invoke() per
   backend, and the anomaly score: the mean squared error between the input windows (the
   recording's log-mel values) and their dequantized reconstruction, averaged over the windows,
   computed on the board, beside the same score from the TFLite Micro interpreter's outputs;
4. `tinyml estimate`'s native-kernel latency per board beside MLPerf Tiny's published AD01
   results (estimates from a cycle model, not board measurements; other boards and clocks).
Results: a table, and out/ad01_demo.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import estimate, export, golden, mlperf, reference, romfs, tmdl
from .boards import ROOT
from .errors import TinymlError

SHARED_MODELS = ROOT.parent / "shared" / "models"   # ../shared/models: beside the repo, never in it
AD01_TFLITE = "ad01_int8.tflite"
RECORDING = "ad01_normal_id_01_00000000_hist_librosa.bin"
BANDS, SLICES = 128, 5
FLASH_PAGE = 4096


# invoke() calls timed per backend (pure Python takes ~30-50 ms per AD01 invoke on the unix port)
TIMED_INVOKES = {"native": 100, "viper": 30, "python": 4}


def windows_of(recording: np.ndarray) -> np.ndarray:
    """Model inputs: every run of 5 consecutive 128-value slices, flattened ([frames - 4, 640])."""
    return np.stack([recording[i:i + SLICES].reshape(-1) for i in range(len(recording) - SLICES + 1)])


def tflite_score(tflite: bytes, model: tmdl.TmdlModel, windows: np.ndarray) -> float:
    """The same score from the TFLite Micro interpreter: windows quantized with the model's input
    quantization (TFLite's formula), outputs dequantized as (q - zero point) * scale."""
    q = reference.quantize(windows, model.input_scale, model.input_zp)
    y = golden.run(tflite, q, model.rounding).astype(np.float64)
    recon = (y - model.output_zp) * float(np.float32(model.output_scale))
    return float(np.mean(np.mean((windows.astype(np.float64) - recon) ** 2, axis=1)))


def find_model(models_dir: Path, out: Path, retrain: bool, say, stand_in: bool = False) -> dict:
    """AD01 and its recording from ../shared/models, else (or with stand_in) the same shape from
    `tinyml train ad01` with a synthetic recording. {"tflite", "recording", "label",
    "recording_label", "real"}. Its first message says which of the two runs."""
    shared = SHARED_MODELS / AD01_TFLITE
    missing = [name for name in (AD01_TFLITE, RECORDING) if not (SHARED_MODELS / name).exists()]
    if not missing and not stand_in:
        say(f"AD01: MLPerf Tiny's model and its real recording, from {SHARED_MODELS}")
        return {"tflite": shared, "recording": SHARED_MODELS / RECORDING, "real": True,
                "label": "MLPerf Tiny AD01 (ad01_int8.tflite)",
                "recording_label": f"real recording {RECORDING}"}
    from . import train

    why = ("asked for with --stand-in" if not missing else
           f"{SHARED_MODELS} has no {' and no '.join(missing)} (MLPerf Tiny's files live beside the repo, "
           "never in it)")
    say(f"AD01 STAND-IN: this runs a same-shape stand-in, not MLPerf Tiny's AD01 ({why}): an autoencoder "
        "`tinyml train ad01` trains on synthetic machine sound, scored on a synthetic recording. Its figures are "
        "its own (README.md gives both models'): same layers, but quantized per channel, and another score")
    tflite = Path(models_dir) / "ad01.tflite"
    if retrain or not tflite.exists():
        say("  training it on synthetic machine sound and quantizing it (TFLite converter) ...")
        train.write_model("ad01", tflite)
    recording = out / "ad01_synthetic_recording.bin"
    recording.write_bytes(train.ad01_recording(seed=999).astype("<f4").tobytes())  # not a training seed
    return {"tflite": tflite, "recording": recording, "real": False,
            "label": "AD01 STAND-IN: same-shape autoencoder (tinyml train ad01, synthetic data), not MLPerf Tiny's AD01",
            "recording_label": "synthetic recording (held-out seed)"}


UNCONSTRAINED = "no board limit"


def plan_runs(rows: list[dict], image_bytes: int) -> list[dict]:
    """First the virtual board with the unix port's default heap (2 MB, no board's limit), from
    the filesystem and from a ROMFS partition the image fits: latency, vectors and score
    whatever the boards allow. Then boards with the same heap and partition, sharing their
    runs: each way the estimate says fits, each it says does not (the measurement should
    agree), and ROMFS in a custom build's partition where the stock one is too small."""
    custom = -(-image_bytes // FLASH_PAGE) * FLASH_PAGE
    free = {"boards": [UNCONSTRAINED], "heap": None, "partition": custom, "verdict": None, "notes": [],
            "runs": [{"way": "RAM", "expect": None, "partition": 0},
                     {"way": f"ROMFS ({custom // 1024} KB partition)", "expect": None, "partition": custom},
                     {"way": "streamed", "expect": None, "partition": 0}]}
    groups: dict = {}
    for r in rows:
        key = (r["heap_bytes"], r["romfs_partition_bytes"], r["heap_grows"])
        groups.setdefault(key, []).append(r)
    plan = [free]
    for (heap, partition, grows), members in groups.items():
        v = members[0]["verdict"]
        group = {"boards": [r["board"] for r in members], "heap": heap, "partition": partition,
                 "verdict": v, "runs": [], "notes": []}
        if grows:
            group["notes"].append("heap grows on demand (ESP-IDF): the virtual board does not simulate that")
            plan.append(group)
            continue
        group["runs"].append({"way": "RAM", "expect": v["ram"], "partition": 0})
        if partition and image_bytes <= partition:
            group["runs"].append({"way": "ROMFS", "expect": v["romfs"], "partition": partition})
        elif partition:
            group["runs"].append({"way": f"ROMFS, custom {custom // 1024} KB partition", "expect": None,
                                  "partition": custom})
        group["runs"].append({"way": "streamed", "expect": v["streamed"], "partition": 0})
        plan.append(group)
    return plan


# what the board runs before tinyml.bench.autoencoder_run (autoencoder does the same at the REPL)
LOAD_FIRST = """import gc
import tinyml
from tinyml import model
model._backend_module(%(backend)r)
gc.collect()
free0, used0 = gc.mem_free(), gc.mem_alloc()
try:
    m = tinyml.load(%(path)r, %(backend)r, stream=%(stream)r)
except MemoryError as e:
    m = "MemoryError: %%s" %% e
gc.collect()
ram = gc.mem_alloc() - used0
from tinyml.bench import autoencoder_run
"""


def _measure(board, path: str, stream: bool, recording: str, windows: int) -> list[dict]:
    """One row per backend the board has, each measured right after its own soft reset."""
    backends = board.eval_repr("import tinyml\nprint(repr(tinyml.available_backends()))")
    rows = []
    for backend in backends:
        # after a soft reset, one backend per run, so that no earlier load has fragmented the
        # heap (a board's app loads its model first thing, too); a MemoryError is a result
        board.soft_reset()
        # the model loaded first thing, as a board's app loads it, with only the package and
        # this backend imported; then tinyml.bench (the board's compiled copy, deployed from
        # this checkout moments before: run_on_virtual_boards) for the rest. Its code, or a
        # window buffer, made before the load would leave it fewer bytes in one piece on a
        # 128 KB heap (the stand-in's streamed rows failed on the Nano's so)
        call = (f"autoencoder_run(m, {backend!r}, free0, ram, {recording!r}, {int(windows)}, {BANDS * 4}, "
                f"{TIMED_INVOKES.get(backend, 4)})")  # window w starts at slice w
        rows.append(board.eval_repr(LOAD_FIRST % {"path": path, "backend": backend, "stream": bool(stream)}
                                    + f"print(repr({call}))", timeout=1800))
    return rows


def run_on_virtual_boards(plan: list[dict], tmdl_path: Path, recording: Path, windows: int, sim_dir: Path,
                          say) -> None:
    """Fill each run of `plan` with its measured rows, one virtual board per run."""
    from . import deploy
    from .board import Board
    from .sim import VirtualBoard

    flash = sim_dir / "flash"
    say("deploying device/, the model and the recording to the virtual board's flash ...")
    with VirtualBoard(flash, romfs_size=0) as vb, Board(vb.port) as board:
        deploy.deploy(board, deploy.DEVICE, [tmdl_path, recording], progress=lambda line: None)
    for group in plan:
        for run in group["runs"]:
            board_id = group["boards"][0]
            heap = f"heap {group['heap']:,} B" if group["heap"] else "the unix port's default heap"
            say(f"  {', '.join(group['boards'])}: {run['way']}, {heap} ...")
            image = sim_dir / f"romfs-{board_id}-{run['partition']}.img"
            t0 = time.monotonic()
            with VirtualBoard(flash, board=board_id, romfs_size=run["partition"], romfs_image=image,
                              heap_bytes=group["heap"]) as vb, Board(vb.port) as board:
                if run["partition"]:
                    deploy.deploy_romfs(board, [tmdl_path], progress=lambda line: None)
                    path = "/rom/" + tmdl_path.name
                else:
                    path = tmdl_path.name
                run["rows"] = _measure(board, path, run["way"] == "streamed", recording.name, windows)
            run["seconds"] = round(time.monotonic() - t0, 1)


def _fmt_us(us: float) -> str:
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} us"


def _way(run: dict) -> str:
    return run["way"].replace(", custom ", " (custom ").replace(" partition", ")") if ", custom " in run["way"] \
        else run["way"]


EXPECTED_PLACE = {"RAM": "RAM", "ROMFS": "in place", "streamed": "streamed"}

# the figure the board's own load checks against its free heap, per way (model._need)
NEED_OF_WAY = {"RAM": "peak", "ROMFS": "romfs", "streamed": "stream_peak"}
# A margin under this share of the heap free before load is thin: on the virtual board
# (the 64-bit unix port with a board's heap) about a third of the bytes free after boot, the
# package's import and the bench's code lie in holes under 512 B, which a load's arrays
# (a block's window, a layer's bias and quantization) cannot use; a load that fits by a thin
# margin may then fail with the bytes free but not in one piece.
THIN_MARGIN = 1 / 8


def _way_key(way: str) -> str:
    return way.split()[0].rstrip(",")


def add_margins(plan: list[dict], tmdl_data: bytes) -> None:
    """The virtual board's own verdict beside the estimate's: for each row measured on a board's
    heap, what its load needs there (model._needs with the 64-bit port's word, the figure load
    checks) against the heap free just before load (`heap_free`): `need_virtual`, `margin`
    (bytes, negative: does not fit) and `thin` (fits, by less than THIN_MARGIN of that heap:
    fragmentation may make the load fail)."""
    from . import device_ram

    needs: dict = {}
    for g in plan:
        if g["heap"] is None:
            continue
        for run in g["runs"]:
            key = NEED_OF_WAY[_way_key(run["way"])]
            for r in run.get("rows") or []:
                if "backend" not in r or "heap_free" not in r:
                    continue
                if r["backend"] not in needs:
                    needs[r["backend"]] = device_ram.ram_needed(tmdl_data, r["backend"], word=8)
                need = needs[r["backend"]][key]
                r["need_virtual"] = need
                r["margin"] = r["heap_free"] - need
                r["thin"] = 0 <= r["margin"] < THIN_MARGIN * r["heap_free"]


def margin_notes(group: dict) -> list[str]:
    """One line per way whose rows fit the virtual board by a thin margin: the needs, the heap
    free, the margins, and what that means."""
    notes = []
    for run in group["runs"]:
        thin = [r for r in run.get("rows") or [] if r.get("thin")]
        if not thin:
            continue
        needs = ", ".join(f"{r['backend']} {r['need_virtual']:,} B (margin {r['margin']:,} B)" for r in thin)
        notes.append(f"virtual board (64-bit), {_way(run)}: needs {needs} of {thin[0]['heap_free']:,} B free "
                     f"before load: fits by less than 1/{round(1 / THIN_MARGIN)} of the free heap, which the "
                     "backend's import and fragmentation (bytes free, but not in one piece) may take: "
                     "load may fail")
    return notes


def print_report(results: dict, console) -> None:
    """A heading per group of boards (heap, partition, the estimate's verdict), then its runs: one
    table with the same columns throughout, in term.WIDTH columns."""

    from . import term

    term.say(f"{results['model']['label']} on the virtual board with each board's heap (unix port, 64-bit); "
             f"score: mean squared error of the reconstruction over {results['windows']} windows of the "
             f"{results['recording']}; the TFLite Micro interpreter's: {results['tflite_score']:.6f}",
             file=console.file)
    columns = ("way", "backend", "load RAM", "vectors", "invoke()", "alloc", "score")
    groups = []  # (heading, rows of cells)
    for g in results["groups"]:
        heap = (f"heap {g['heap'] / 1024:.0f} KB" if g["heap"] else "heap 2 MB") + ", ROMFS " + (
            f"{g['partition'] / 1024:.0f} KB" if g["partition"] else "none")
        v = g["verdict"]
        verdict = "" if v is None else "; estimate (32-bit board): " + (("fits " + v["fits"]) if v["fits"] else (
            "may fit " + v["may_fit"]) if v["may_fit"] else "does not fit")
        cells = []
        for run in g["runs"] or [{"way": "not run (below)", "rows": [{}]}]:
            for r in run.get("rows") or [{}]:
                row = [_way(run), r.get("backend", "")]
                if "error" in r:
                    row += [f"MemoryError, {r['heap_free'] // 1024} KB free", "", "", "", ""]
                elif r:
                    way = run["way"].split()[0].rstrip(",")
                    odd = r.get("weights") and r["weights"] != EXPECTED_PLACE.get(way)
                    placed = f" ({r['weights']})" if odd else ""  # where load put the weights, if unexpected
                    row += [f"{r['ram']:,} B{placed}", r["selftest"], _fmt_us(r["us"]), f"{r['alloc']:g}",
                            f"{r['score']:.6f}"]
                else:
                    row += [""] * 5
                cells.append(row)
        groups.append((f"{', '.join(g['boards'])}: {heap}{verdict}", cells))
    # one width per column over every group, so the groups' tables line up under the first header
    widths = [max([len(c)] + [len(row[i]) for _, rows in groups for row in rows]) for i, c in enumerate(columns)]
    for n, (heading, rows) in enumerate(groups):
        console.print()
        term.say(heading, indent="  ", file=console.file)
        t = term.table(show_header=n == 0)
        for c, w in zip(columns, widths):
            t.add_column(c, justify="left" if c in ("way", "backend") else "right", width=w, no_wrap=True)
        for row in rows:
            t.add_row(*row)
        term.show(t, console=console)
        for note in margin_notes(results["groups"][n]):
            term.say(note, first="  ", indent="    ", file=console.file)
    notes: dict = {}
    for g in results["groups"]:
        for note in g["notes"]:
            notes.setdefault(note, []).extend(g["boards"])
    for note, boards in notes.items():
        term.say(f"{', '.join(boards)}: {note}", first="  ", indent="    ", file=console.file)

    mlperf.print_comparison(results["estimate"], console)
    missing = [r["board"] for r in results["estimate"] if r["native_us"] is None]
    if missing:
        term.say(f"no native estimate for {', '.join(missing)}: "
                 + ("no cycle figures for their CPU in out/bench/kernels.json"
                    if results["costs_found"] else "run `make bench` first (writes out/bench/kernels.json)"),
                 first="  ", indent="    ", file=console.file)


def main(out_dir: str = "out", models_dir: Path = Path("models"), retrain: bool = False,
         windows: int | None = None, boards: list[str] | None = None, stand_in: bool = False) -> int:
    from . import term

    console = term.console()
    say = console.print
    out = Path(out_dir)
    work = out / "ad01"
    work.mkdir(parents=True, exist_ok=True)

    source = find_model(Path(models_dir), work, retrain, say, stand_in)
    tflite_bytes = source["tflite"].read_bytes()
    tmdl_path = work / "ad01.tmdl"
    say("exporting to .tmdl (tflm rounding, 16 golden vectors from the TFLite Micro interpreter) ...")
    model = export.export(source["tflite"], tmdl_path)
    if model.input_size != BANDS * SLICES or model.output_size != BANDS * SLICES:
        raise TinymlError(f"{source['tflite']} is {model.input_size} -> {model.output_size}, not AD01's 640 -> 640")
    recording = np.fromfile(source["recording"], dtype="<f4")
    if recording.size % BANDS:
        raise TinymlError(f"{source['recording']}: {recording.size} floats is not a whole number of 128-band slices")
    all_windows = windows_of(recording.reshape(-1, BANDS))
    n = len(all_windows) if windows is None else max(1, min(windows, len(all_windows)))

    image, _ = romfs.build_from([tmdl_path])
    local = ROOT / estimate.KERNEL_COSTS  # `make bench`'s own figures, else the table the package ships
    costs = estimate.load_costs(local if local.exists() else estimate.SHIPPED_COSTS)
    rows = estimate.estimate(model, tmdl_path.stat().st_size, estimate.package_sizes(), costs,
                             romfs_image_bytes=len(image))
    if boards:
        unknown = sorted(set(boards) - {r["board"] for r in rows})
        if unknown:
            raise TinymlError(f"unknown board(s) {', '.join(unknown)}; see `tinyml boards`")
        rows = [r for r in rows if r["board"] in boards]
    plan = plan_runs(rows, len(image))
    run_on_virtual_boards(plan, tmdl_path, source["recording"], n, work / "sim", say)
    add_margins(plan, tmdl_path.read_bytes())

    results = {"model": {"label": source["label"], "tflite": str(source["tflite"]), "real": source["real"],
                         "tflite_bytes": len(tflite_bytes), "tmdl_bytes": tmdl_path.stat().st_size,
                         "romfs_image_bytes": len(image), "macs": int(sum(l.weights.size for l in model.layers)),
                         "rounding": model.rounding},
               "recording": source["recording_label"], "windows": n,
               "tflite_score": tflite_score(tflite_bytes, model, all_windows[:n]),
               "groups": plan, "estimate": rows, "costs_found": bool(costs), "mlperf_ad01": mlperf.AD01_RESULTS}
    print_report(results, console)
    path = out / "ad01_demo.json"
    path.write_text(json.dumps(results, indent=2))
    say(f"results: {path}")
    problems, disagreements, thin = check(results)
    results["estimate_disagreements"] = disagreements
    results["thin_margin_failures"] = thin
    path.write_text(json.dumps(results, indent=2))
    for d in disagreements:
        term.say(f"estimate vs virtual board: {d}", first="  ", indent="    ")
    for t in thin:
        term.say(f"thin margin, as the virtual board's verdict says (not a disagreement): {t}", first="  ",
                 indent="    ")
    if problems:
        raise TinymlError("; ".join(problems))
    return 0


def check(results: dict) -> tuple[list[str], list[str], list[str]]:
    """(problems, disagreements, thin). Problems: a backend that loaded but fails its golden
    vectors or gives another score than the interpreter's. Disagreements, reported but not
    failures: a way the estimate says fits that ended in MemoryError, or one it says does not
    fit that loaded (the estimate is for a 32-bit board; the virtual board is the 64-bit unix
    port, whose objects are larger). Thin: such a MemoryError where the virtual board's own
    verdict said it fits by a thin margin (add_margins), which fragmentation may take: what
    that verdict said could happen, so not a disagreement."""
    problems, disagreements, thin = [], [], []
    for g in results["groups"]:
        for run in g["runs"]:
            for r in run["rows"]:
                where = f"{', '.join(g['boards'])} {run['way']} {r['backend']}"
                if "error" in r:
                    if run["expect"] == "yes" and r.get("thin"):
                        thin.append(f"{where}: fits the virtual board by {r['margin']:,} B of "
                                    f"{r['heap_free']:,} B free, and load raised MemoryError")
                    elif run["expect"] == "yes":
                        disagreements.append(f"{where}: the estimate says it fits, but load raised {r['error']}")
                    continue
                passed, total = r["selftest"].split("/")
                if passed != total or total == "0":
                    problems.append(f"{where}: golden vectors {r['selftest']}")
                if abs(r["score"] - results["tflite_score"]) > 1e-9 * max(1.0, results["tflite_score"]):
                    problems.append(f"{where}: score {r['score']} differs from TFLite's {results['tflite_score']}")
                if run["expect"] == "no":
                    disagreements.append(f"{where}: loaded in {r['ram']} B where the estimate says it does not fit")
    return problems, disagreements, thin
