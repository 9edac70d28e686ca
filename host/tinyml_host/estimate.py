"""`tinyml estimate`: flash, RAM and latency of a .tmdl model on each board, before deploying.

Flash: the .tmdl file plus the tinyml package as deploy would copy it; for ROMFS, the aligned
image `tinyml deploy --romfs` writes (the model alone) against the board's stock partition.
RAM, three ways, on a 32-bit board (byte counts exact, object headers estimated):
- from the filesystem: `tinyml.load` copies every array: weights, bias, multipliers, shifts,
  per-layer params, plus the working buffers (model_ram);
- from ROMFS (/rom): weights, bias, multipliers and shifts stay in flash; RAM holds the
  working buffers and a small plan per layer (romfs_ram):
    input + output + 2 x widest (int8 ping-pong hidden buffers) + 4 x widest (int32 accumulator
    row) + 4 + 8 x outputs (float scratch and result list) + layers x PLAN_BYTES + object headers,
  PLAN_BYTES = the 28-byte tml_fc_params + a header for the plan and each of its four views
  into flash (the native and viper backends; python keeps its bias and multipliers split
  into small ints in RAM, about 8 bytes more per output channel);
- streamed (load(path, stream=True), for firmware without ROMFS): the board's own figure,
  device/lib/tinyml/model.py's _needs run on the host (device_ram.py): a window of one block
  of output rows (4 KB by default) + every layer's bias and quantization + a plan per block;
  and the file reads and bytes one invoke() makes that way (device_ram.stream_reads).
Verdict per board: against the stock firmware's free heap and ROMFS partition (boards.json
`heap`, `romfs`), whether the model fits in RAM, in the ROMFS partition, only streamed, or not.
Latency: multiply-accumulates of each layer times the native kernel's measured cycles per MAC
on the board's CPU (`make bench`, out/bench/kernels.json; nearest measured shape), divided by
the clock from boards.json. CPUs without a measurement get none rather than a guess. Without
a local out/bench/kernels.json, the table shipped in the package (data/kernel_costs.json, the
last `native/tools/bench.py --update-shipped` committed with the kernels) is used.
Latency with the weights in flash (ROMFS, read in place): the RAM figure plus, for every byte
of the layers' sections (weights, bias, multipliers, shifts) that misses the board's flash
cache, the cycles per byte boards.json `flash_read` gives (docs/benchmarks.md, Weights in
flash). Each section is read once per invoke: sections larger together than half the cache
(the rest holds the running code) miss on every invoke, smaller ones only on the first.
Viper latency (the backend stock firmware runs): executed instructions per invoke() measured on
MicroPython's qemu port (native/tools/viper_bench.py, data/viper_costs.json) and fitted per viper
emitter as per_invoke + per_layer x layers + per_output x outputs + per_mac x MACs; the MAC loop's
instructions are priced with the cycle model of the board's core, every other instruction at
1 cycle (the minimum on these single-issue cores, so that part is low); divided by the clock.

Graphs (format 4: convolutions, pools, ADD, SOFTMAX): RAM is the board's own figure,
device/lib/tinyml/model.py's _needs run on the host (device_ram.py; the "native" backend where
the firmware is MicroPython, "python" on CircuitPython): "filesystem", "romfs" and "stream".
Latency: each op's work (MACs for convolutions: on the M4 and M33, whose CONV_2D skips rows of
all-zero weights, the live rows' only; window taps for pools, elements for ADD and SOFTMAX) times the cycles per unit of its kind on the board's core, measured on MLPerf Tiny's
layers by native/tools/model_bench.py (data/op_costs.json); FULLY_CONNECTED as above.
"""

from __future__ import annotations

import math
from pathlib import Path

from . import boards as boards_mod
from .tmdl import TmdlModel

KERNEL_COSTS = Path("out/bench/kernels.json")
SHIPPED_COSTS = Path(__file__).parent / "data" / "kernel_costs.json"  # native/tools/bench.py --update-shipped
OP_COSTS = Path(__file__).parent / "data" / "op_costs.json"  # written by native/tools/model_bench.py
VIPER_COSTS = Path(__file__).parent / "data" / "viper_costs.json"  # written by native/tools/viper_bench.py
VIPER_BASIS = ("estimated from instruction counts on MicroPython's qemu port; MAC loop priced by the cycle model, "
               "other instructions at 1 cycle each")
OBJECT_HEADER = 32   # bytes per array/tuple object on a 32-bit port, an estimate
ARRAYS_PER_LAYER = 6  # weights, bias, multipliers, shifts, params, and the layer tuple
CPU_OF_BOARD = {"cortex-m4f": "cortex-m4"}  # boards.json cpu -> benchmarked core


def model_ram(model: TmdlModel) -> int:
    data = 0
    for l in model.layers:
        n_out, n_in = l.weights.shape
        data += n_in * n_out + 4 * n_out + 5 * len(l.multiplier) + 4 * 7
    widest = max(max(l.weights.shape) for l in model.layers)
    buffers = model.input_size + model.output_size + 2 * widest + 4 * widest + 4 + 8 * model.output_size
    objects = ARRAYS_PER_LAYER * len(model.layers) + 7
    return data + buffers + OBJECT_HEADER * objects


PARAMS_BYTES = 28    # tml_fc_params (native/core/tinyml.h): 7 int32
PLAN_BYTES = PARAMS_BYTES + 5 * OBJECT_HEADER  # params + the plan and its 4 views into flash


def _widest(model: TmdlModel) -> int:
    return max(max(l.weights.shape) for l in model.layers)


def romfs_ram(model: TmdlModel) -> int:
    """RAM of a model loaded from /rom: buffers and per-layer plans; its arrays stay in flash."""
    widest = _widest(model)
    buffers = model.input_size + model.output_size + 2 * widest + 4 * widest + 4 + 8 * model.output_size
    return buffers + PLAN_BYTES * len(model.layers) + OBJECT_HEADER * 7


def verdict(board: dict, ram_fs: int, ram_romfs: int, ram_streamed: int, romfs_image: int) -> dict:
    """Where the model fits on this board's stock firmware: {"ram", "romfs", "streamed"}, each
    "yes", "maybe" (over a heap that grows on demand, under the board's RAM) or "no"; "fits":
    the first of "RAM", "ROMFS", "streamed" that is a yes, else None; "may_fit", when nothing
    fits: the way needing the least heap (ROMFS, streamed, RAM) that is a maybe."""
    heap = board["heap"]

    def in_heap(need):
        if need <= heap["bytes"]:
            return "yes"
        if heap.get("grows") and need <= board["ram_kb"] * 1024:
            return "maybe"
        return "no"

    partition = board["romfs"]["bytes"]
    out = {"ram": in_heap(ram_fs),
           "romfs": "no" if not partition or romfs_image > partition else in_heap(ram_romfs),
           "streamed": in_heap(ram_streamed)}
    ways = (("ram", "RAM"), ("romfs", "ROMFS"), ("streamed", "streamed"))
    out["fits"] = next((name for key, name in ways if out[key] == "yes"), None)
    # of the ways that may fit, the one needing the least heap is the likeliest
    least_heap_first = (("romfs", "ROMFS"), ("streamed", "streamed"), ("ram", "RAM"))
    out["may_fit"] = None if out["fits"] else next(
        (name for key, name in least_heap_first if out[key] == "maybe"), None)
    return out


def load_costs(path: Path = KERNEL_COSTS) -> list[dict]:
    from .inputs import read_kernel_costs  # checked: a damaged file is a message naming the row

    if path == KERNEL_COSTS and not path.exists():
        path = SHIPPED_COSTS
    return read_kernel_costs(path)


def cycles_per_mac(costs: list[dict], cpu: str, n_in: int, n_out: int) -> float | None:
    """The "tinyml" kernel's cost on `cpu` at the measured shape nearest (n_in, n_out)."""
    rows = [r for r in costs if r["cpu"] == cpu and r["kernel"] == "tinyml"]
    if not rows:
        return None

    def distance(r):
        s_in, s_out = (int(v) for v in r["shape"].split("x"))
        return abs(math.log(n_in / s_in)) + abs(math.log(n_out / s_out))

    return min(rows, key=distance)["cycles_per_mac"]


def latency_us(model: TmdlModel, costs: list[dict], cpu: str, mhz: float) -> float | None:
    total = 0.0
    for l in model.layers:
        n_out, n_in = l.weights.shape
        cpm = cycles_per_mac(costs, cpu, n_in, n_out)
        if cpm is None:
            return None
        total += n_in * n_out * cpm
    return total / mhz


def section_bytes(model: TmdlModel) -> int:
    """Bytes a native invoke reads from the file's layer sections: weights, bias, multipliers, shifts."""
    if not model.is_dense:
        return sum(len(op.constants()) for op in model.ops)
    return sum(l.weights.size + 4 * l.weights.shape[0] + 5 * len(l.multiplier) for l in model.layers)


def flash_latency_us(model: TmdlModel, ram_us: float | None, board: dict) -> tuple[float | None, str]:
    """Native latency with the layer sections read from flash in place, and how it was priced
    (or why it was not): the RAM latency plus the cache misses' cycles (boards.json flash_read)."""
    facts = board["flash_read"]
    if ram_us is None:
        return None, "no RAM latency to add the flash reads to"
    if facts["cycles_per_byte"] is None:
        return None, f"no documented flash read cost ({facts['source']})"
    read = section_bytes(model)
    if read <= facts["cache_bytes"] // 2:
        return ram_us, (f"{read:,} B of sections stay in the {facts['cache_bytes'] // 1024} KB flash cache "
                        "after the first invoke")
    extra = read * facts["cycles_per_byte"] / board["cpu_mhz"]
    return ram_us + extra, (f"{read:,} B of sections miss the {facts['cache_bytes'] // 1024} KB flash cache on every "
                            f"invoke: {facts['cycles_per_byte']} cycles per byte ({facts['kind']})")


def load_viper_costs(path: Path = VIPER_COSTS) -> dict[str, dict]:
    from .inputs import read_viper_costs

    return read_viper_costs(path)


def viper_cycles(model: TmdlModel, cost: dict) -> float:
    """Cycles of one viper invoke() from a cpu's row of viper_costs.json."""
    macs = sum(l.weights.size for l in model.layers)
    instructions = (cost["per_invoke"] + cost["per_layer"] * len(model.layers)
                    + cost["per_output"] * sum(l.weights.shape[0] for l in model.layers) + cost["per_mac"] * macs)
    in_loop = cost["loop_instructions_per_mac"] * macs
    return cost["loop_cycles_per_mac"] * macs + max(0.0, instructions - in_loop)


def viper_latency(model: TmdlModel, viper_costs: dict[str, dict], cpu: str, mhz: float) -> tuple[float | None, str]:
    """(microseconds, basis) of one viper invoke() on a board's cpu; (None, why) without a figure."""
    cost = viper_costs.get(cpu)
    if cost is None:
        return None, f"no viper measurement for {cpu}"
    if "why_not" in cost:
        return None, cost["why_not"]
    return viper_cycles(model, cost) / mhz, f"{VIPER_BASIS} ({cost['emitter']} emitter, measured on {cost['measured_on']})"


# --- graphs ----------------------------------------------------------------------------------
# op_costs.json: {"cpus": {cpu: {category: cycles per unit}}, ...}; a category is the op's kind
# name, CONV_2D split into "CONV_2D 1x1" (pointwise) and "CONV_2D" (any other filter).
UNIT = {"CONV_2D": "MAC", "CONV_2D 1x1": "MAC", "DEPTHWISE_CONV_2D": "MAC", "FULLY_CONNECTED": "MAC",
        "AVERAGE_POOL_2D": "tap", "MAX_POOL_2D": "tap", "ADD": "element", "SOFTMAX": "element"}


# cores whose CONV_2D kernel (conv_s8.c's arm-dsp path) skips the MACs of dead rows (all-zero
# weights: a converter's dead channels, a constant output each), so their work is the live rows'
SKIPS_DEAD_ROWS = ("cortex-m4", "cortex-m33")


def op_work(op, tensors, cpu: str | None = None) -> tuple[str, int]:
    """(category, units) of one op: MACs over the whole filter for the weighted kinds (for a
    CONV_2D on a core of SKIPS_DEAD_ROWS, over its live rows only: the MACs the kernel runs),
    output elements x filter taps for pools, elements for ADD and SOFTMAX."""
    from . import tmdl

    out = tensors[op.output]
    if op.kind == tmdl.OP_FULLY_CONNECTED:
        return "FULLY_CONNECTED", int(op.weights.size)
    if op.kind == tmdl.OP_CONV_2D:
        rows = op.weights.reshape(len(op.weights), -1)
        live = int(rows.any(axis=1).sum()) if cpu in SKIPS_DEAD_ROWS else len(rows)
        return ("CONV_2D 1x1" if tuple(op.filter) == (1, 1) else "CONV_2D"), out.shape[0] * out.shape[1] * live * int(
            rows.shape[1])
    if op.kind in (tmdl.OP_DEPTHWISE_CONV_2D, tmdl.OP_AVERAGE_POOL_2D, tmdl.OP_MAX_POOL_2D):
        return op.name, out.size * op.filter[0] * op.filter[1]
    return op.name, out.size


def graph_macs(model: TmdlModel) -> int:
    return sum(n for op in model.ops for cat, n in [op_work(op, model.tensors)] if UNIT[cat] == "MAC")


def load_op_costs(path: Path = OP_COSTS) -> dict:
    import json

    if not path.exists():
        return {}
    return json.loads(path.read_text())["cpus"]


def graph_latency_us(model: TmdlModel, costs: list[dict], op_costs: dict, cpu: str, mhz: float
                     ) -> tuple[float | None, str]:
    """(microseconds, basis) of a native invoke of a graph: FULLY_CONNECTED at kernel_costs.json's
    nearest shape, every other op its units x op_costs.json's cycles per unit; (None, why)."""
    total = 0.0
    for op in model.ops:
        cat, units = op_work(op, model.tensors, cpu)
        if cat == "FULLY_CONNECTED":
            n_out, n_in = op.weights.shape
            per = cycles_per_mac(costs, cpu, n_in, n_out)
        else:
            per = op_costs.get(cpu, {}).get(cat)
        if per is None:
            return None, f"no cycle figure for {cat} on {cpu}"
        total += units * per
    return total / mhz, "native kernels under the cycle model, per op kind (data/op_costs.json)"


def estimate(model: TmdlModel, tmdl_bytes: int, package_bytes: dict[str, int], costs: list[dict],
             board_facts: dict | None = None, romfs_image_bytes: int | None = None,
             viper_costs: dict[str, dict] | None = None, op_costs: dict | None = None,
             tmdl_data: bytes | None = None, block: int | None = None) -> list[dict]:
    """package_bytes: {"micropython": n, "circuitpython": n} (.mpy vs .py package sizes);
    romfs_image_bytes: the ROMFS image of the model (romfs.build), default the file's size;
    viper_costs: data/viper_costs.json's cpus (default: the shipped file); op_costs:
    data/op_costs.json's cpus (graphs; default the shipped file); tmdl_data: the file's bytes
    (the device's RAM figures read them; default tmdl.encode(model)); block: load(path,
    stream=block)'s block size for the streamed figures (default the device's DEFAULT_BLOCK)."""
    from . import device_ram
    from .tmdl import encode

    rows = []
    viper_costs = load_viper_costs() if viper_costs is None else viper_costs
    graph = not model.is_dense
    data = encode(model) if tmdl_data is None else tmdl_data
    # the board's own figures (model._needs): every placement for graphs, streamed for all
    needs = {fw: device_ram.ram_needed(data, backend, uctypes=fw == "micropython", block=block)
             for fw, backend in (("micropython", "native"), ("circuitpython", "python"))}
    reads = device_ram.stream_reads(data, block)
    if graph:
        op_costs = load_op_costs() if op_costs is None else op_costs
    else:
        ram_fs, ram_rom = model_ram(model), romfs_ram(model)
    image = tmdl_bytes if romfs_image_bytes is None else romfs_image_bytes
    for board_id, b in (board_facts or boards_mod.load()).items():
        cpu = CPU_OF_BOARD.get(b["cpu"], b["cpu"])
        firmware = "micropython" if "micropython" in b["firmware"] else b["firmware"][0]
        n = needs["micropython" if firmware == "micropython" else "circuitpython"]
        ram_stream = n["stream"]
        if graph:
            ram_fs, ram_rom = n["filesystem"], n["romfs"]
            native_us, native_basis = graph_latency_us(model, costs, op_costs, cpu, b["cpu_mhz"])
            viper_us, viper_basis = None, "viper is priced for dense models only (graphs: docs/benchmarks.md)"
        else:
            native_us = latency_us(model, costs, cpu, b["cpu_mhz"])
            viper_us, viper_basis = viper_latency(model, viper_costs, b["cpu"], b["cpu_mhz"])
        rows.append({
            "board": board_id,
            "flash_bytes": tmdl_bytes + package_bytes[firmware],
            "flash_kb_board": b["flash_kb"],
            "ram_bytes": ram_fs,
            "ram_romfs_bytes": ram_rom,
            "ram_streamed_bytes": ram_stream,
            "stream": reads,
            "ram_kb_board": b["ram_kb"],
            "heap_bytes": b["heap"]["bytes"],
            "heap_kind": b["heap"]["kind"],
            "heap_grows": bool(b["heap"].get("grows")),
            "romfs_image_bytes": image,
            "romfs_partition_bytes": b["romfs"]["bytes"],
            "verdict": verdict(b, ram_fs, ram_rom, ram_stream, image),
            "macs": graph_macs(model) if graph else sum(l.weights.size for l in model.layers),
            "native_us": native_us,
            "viper_us": viper_us,
            "viper_basis": viper_basis,
            "cpu": b["cpu"],
            "cpu_mhz": b["cpu_mhz"],
        })
        row = rows[-1]
        row["native_basis"] = native_basis if graph else "make bench's cycle model of the fully connected kernel"
        row["native_flash_us"], row["flash_note"] = flash_latency_us(model, row["native_us"], b)
    return rows


FRONTEND_COSTS = Path(__file__).parent / "data" / "frontend_costs.json"  # native/tools/fe_bench.py writes it
KWS_EVERY_HOPS = 2   # device/lib/tinyml/apps/kws.py's EVERY: the model runs every second hop
_SAME_WORK = ("sample_rate", "window_size", "window_step", "num_channels", "enable_pcan", "enable_log")


def load_frontend_costs(path: Path = FRONTEND_COSTS) -> dict:
    import json

    return json.loads(path.read_text()) if path.exists() else {}


def keyword_app_cpu(model: TmdlModel, rows: list[dict], fe_costs: dict | None = None,
                    every: int = KWS_EVERY_HOPS) -> None:
    """For a model with a front end record (a keyword model): each row gains "kws_app", the CPU
    the keyword app's two computations take on that board with the native backend, as a share of
    the core at its clock: the front end on every hop (frontend_costs.json's median cycles per hop
    on the board's core) and the model every `every` hops (the row's native_us). The app's Python
    around them (the recognizer, the audio block's hand-off) is not counted; viper and python have
    no cycle model for the front end, so their share is None with the reason."""
    if model.frontend is None:
        return
    from .features import split_record

    config = split_record(model.frontend)[2]
    fe_costs = load_frontend_costs() if fe_costs is None else fe_costs
    measured = fe_costs.get("config", {})
    same = bool(measured) and all(measured.get(k) == getattr(config, k) for k in _SAME_WORK)
    hops_per_s = 1000.0 / config.window_step
    for row in rows:
        cpu = CPU_OF_BOARD.get(row["cpu"], row["cpu"])
        fe_cycles = fe_costs.get("cores", {}).get(cpu, {}).get("median") if same else None
        out = {"hop_ms": config.window_step, "every_hops": every, "frontend_cycles_per_hop": fe_cycles,
               "frontend_share": None, "model_share": None, "share": None,
               "other_backends": "viper and python: no cycle model of their front end"}
        if fe_cycles is None:
            out["why"] = ("the front end's cycles were measured at micro_speech's settings only "
                          "(native/tools/fe_bench.py)" if fe_costs and not same else
                          f"no front end cycle figure for {cpu}")
        else:
            out["frontend_share"] = fe_cycles * hops_per_s / (row["cpu_mhz"] * 1e6)
            if row["native_us"] is None:
                out["why"] = "no native latency figure for the model on this core"
            else:
                out["model_share"] = row["native_us"] * 1e-6 * hops_per_s / every
                out["share"] = out["frontend_share"] + out["model_share"]
        row["kws_app"] = out


def package_sizes() -> dict[str, int]:
    from . import deploy

    mpy = sum(len(f.data) for f in deploy.plan(deploy.DEVICE, [], compile_to_mpy=True))
    py = sum(len(f.data) for f in deploy.plan(deploy.DEVICE, [], compile_to_mpy=False))
    return {"micropython": mpy, "circuitpython": py}


def stream_line(s: dict) -> str:
    """The cost of streaming in one line: what each invoke() reads from the file."""
    from .device_ram import default_block

    how = "True" if s["block_bytes"] == default_block() else s["block_bytes"]
    return (f"streamed (load(path, stream={how}), {s['block_bytes']:,} B blocks): {s['reads']:,} file reads, "
            f"{s['bytes']:,} B read per invoke; window {s['window_bytes']:,} B")


# --- energy -----------------------------------------------------------------------------------
# Energy per inference = latency x the current with the CPU busy x the supply voltage (boards.json
# `power`); average power at `rate` inferences per second = that energy x rate + the wait between
# inferences at the current of the deepest wait the apps use on that board: a timed
# machine.lightsleep where the port has one and a figure for it, else time.sleep_ms (idle).
# Assumed: the CPU draws its busy current for the whole latency and nothing else (sensors, LED,
# radio) draws any; waking costs nothing; no BLE link (lightsleep keeps none on these ports).
# A figure missing from boards.json (null: no documented value) leaves the row uncomputed, with
# the reason. A wait current marked lower_bound (the document's state is quieter than the port's
# wait) makes the average a lower bound too: it can say "not under 1 mW", never "under".
BACKENDS = ("native", "viper", "python")
DEFAULT_RATE_HZ = 1.0
BUDGET_MW = 1.0  # TinyML's usual mark: under 1 mW on average


def wait_state(power: dict) -> str:
    """The deepest wait between inferences the apps use on this board (no BLE link)."""
    modes = power["sleep_modes"]
    if modes["lightsleep_timed"] and power["lightsleep"]["ma"] is not None:
        return "lightsleep"
    return "idle"


def energy_row(board_id: str, board: dict, backend: str, latency: float | None, rate_hz: float,
               basis: str | None = None) -> dict:
    """basis: how the latency was found, or why there is none (viper: estimate()'s viper_basis)."""
    power = board["power"]
    volts, active = power["supply_v"], power["active"]
    state = wait_state(power)
    wait = power[state]
    row = {"board": board_id, "backend": backend, "latency_us": latency, "latency_basis": basis, "rate_hz": rate_hz,
           "supply_v": volts, "active_ma": active["ma"], "active_kind": active["kind"],
           "wait_state": state, "wait_ma": wait["ma"], "wait_kind": wait["kind"],
           "energy_uj": None, "avg_mw": None, "avg_is_lower_bound": bool(wait.get("lower_bound")),
           "duty": None, "under_1mw": None, "why_not": None}
    if active["ma"] is None:
        row["why_not"] = f"no documented busy-CPU current: {active['source']}"
        return row
    if latency is None:
        why = {"native": " (run `make bench`)", "viper": f" ({basis})" if basis else ""}.get(backend, " (not benchmarked per board)")
        row["why_not"] = f"no latency for the {backend} backend on {board['cpu']}{why}"
        return row
    # us x mA x V = nJ
    row["energy_uj"] = latency * active["ma"] * volts / 1000.0
    busy = latency * 1e-6 * rate_hz
    row["duty"] = busy
    if busy >= 1.0:
        row["why_not"] = f"{rate_hz:g} inferences per second need {busy:.0%} of the CPU: no time left to sleep"
        return row
    if wait["ma"] is None:
        row["why_not"] = f"no documented {state} current: {wait['source']}"
        return row
    # uJ per inference x per second = uW; the wait draws wait_ma x V for the rest of each second
    row["avg_mw"] = row["energy_uj"] * rate_hz / 1000.0 + wait["ma"] * volts * (1.0 - busy)
    under = row["avg_mw"] < BUDGET_MW
    # a lower bound under the budget says nothing about the real average
    row["under_1mw"] = None if under and row["avg_is_lower_bound"] else under
    return row


def energy(rows: list[dict], rate_hz: float = DEFAULT_RATE_HZ, board_facts: dict | None = None) -> list[dict]:
    """Per board of `rows` (estimate()'s) and backend, energy per inference and average power."""
    if not rate_hz > 0:
        from .errors import TinymlError

        raise TinymlError(f"--rate {rate_hz:g}: the inference rate must be above 0 per second")
    facts = board_facts or boards_mod.load()
    out = []
    for r in rows:
        latencies = {"native": r["native_us"], "viper": r.get("viper_us")}
        bases = {"native": "make bench's cycle model of the native kernel", "viper": r.get("viper_basis")}
        for backend in BACKENDS:
            row = energy_row(r["board"], facts[r["board"]], backend, latencies.get(backend), rate_hz,
                             bases.get(backend))
            # the native latency with the weights read from flash in place (ROMFS), and how it was priced
            native = backend == "native"
            row["latency_flash_us"] = r.get("native_flash_us") if native else None
            row["flash_note"] = r.get("flash_note") if native else None
            row["stream"] = r.get("stream")  # file reads and bytes per invoke when streamed
            out.append(row)
    return out
