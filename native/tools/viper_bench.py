"""`make bench`'s viper row: executed instructions per invoke() of the viper backend on MicroPython's
qemu port, priced per board into host/tinyml_host/data/viper_costs.json (what `tinyml estimate` reads).

Needs qemu-system-arm and MicroPython qemu-port firmware built outside this repo (docs/benchmarks.md
"Viper on the boards" says how), named by TINYML_QEMU_FIRMWARE as comma-separated MACHINE=PATH:

    TINYML_QEMU_FIRMWARE=mps2-an385=/tmp/mp/ports/qemu/build-MPS2_AN385/firmware.elf,\\
    microbit=/tmp/mp/ports/qemu/build-MICROBIT-viper/firmware.elf  python native/tools/viper_bench.py

Counting: qemu runs with `-icount shift=0`, so the guest's virtual clock advances 1 ns per executed
instruction and time.ticks_us() (SysTick) reads executed instructions / 1000. Every run first checks
that on a loop of known length (an asm_thumb loop of 2 instructions per iteration: the difference
between two lengths must be 2 instructions per iteration within 0.1 %, after the machine's known
ticks_us scale, MACHINES' instructions_per_tick), and stops otherwise.
Each model is loaded with tinyml.load(path, 'viper') from an `mpremote mount` of a temporary folder,
invoke()d once, then invoke()d n times between two ticks_us(); the instructions of the same empty
loop are subtracted. All models run ROUNDS times; the lowest count is kept and the spread recorded. Every output is checked bit-exact against the numpy reference.

Fit: instructions of one invoke() = per_invoke + per_layer x layers + per_output x sum(n_out) +
per_mac x MACs, least squares over the synthetic models (single layers at the bench and AD01 shapes,
chains of 16x16 and 1x1 layers); the sine model and AD01 are left out of the fit and reported as a
check (fitted vs measured).

Pricing (cycles per board): the viper MAC loop's machine code is read from the guest's memory,
disassembled with capstone and one iteration priced with cycles.py's model of the board's core
(cost_m4 for Cortex-M4/M33 on Thumb-2 code, cost_m0plus for the M0+ on Thumb-1 code). All other
instructions (interpreter, requantize, loop setup) cannot be traced this way and are priced at
1 cycle each, the minimum on these single-issue cores: the figure is low for that part.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "host"))

SHARED_MODELS = ROOT.parent / "shared" / "models"
DEVICE_PACKAGE = ROOT / "device" / "lib" / "tinyml"
RAW = ROOT / "out" / "bench" / "viper.txt"
VIPER_COSTS = ROOT / "host" / "tinyml_host" / "data" / "viper_costs.json"

# qemu machines of MicroPython's qemu port: the core it emulates and the viper emitter variant it runs
MACHINES = {
    # instructions_per_tick: executed instructions per ticks_us() step under -icount shift=0 (1 ns each):
    # the firmware turns SysTick counts into microseconds assuming a 25 MHz clock (ports/qemu/mcu/arm/
    # ticks.c); QEMU clocks the MPS2 SysTick at 25 MHz (1000) and the nRF51's at 16 MHz (1000 x 25 / 16)
    "mps2-an385": {"core": "cortex-m3", "emitter": "armv7m", "instructions_per_tick": 1000.0, "qemu_args": []},
    # the port's nRF51 board at 1 MB flash / 256 KB RAM, as its Makefile runs it
    "microbit": {"core": "cortex-m0", "emitter": "armv6m", "instructions_per_tick": 1562.5,
                 "qemu_args": ["-global", "nrf51-soc.flash-size=1048576",
                               "-global", "nrf51-soc.sram-size=262144"]},
}
# boards.json cpu -> (viper emitter variant its stock MicroPython firmware runs, core priced by cycles.py)
EMITTER_OF_CPU = {"cortex-m4f": ("armv7m", "cortex-m4"), "cortex-m4": ("armv7m", "cortex-m4"),
                  "cortex-m33": ("armv7m", "cortex-m33"), "cortex-m0plus": ("armv6m", "cortex-m0plus")}
NOT_RUN = {"xtensa-lx6": "xtensawin viper emitter: MicroPython has no qemu port for the ESP32 and none runs here",
           "xtensa-lx7": "xtensawin viper emitter: MicroPython has no qemu port for the ESP32-S3 and none runs here"}

TARGET_INSTRUCTIONS = 4_000_000   # per timed loop: ticks_us resolution (1000 instructions) is 0.025 % of it
CALIBRATION = (100_000, 5_100_000)  # 10 M instructions apart: ticks_us resolves 0.016 % of it
ROUNDS = 3

DEVICE_SCRIPT = r"""
import gc, micropython, sys, time, tinyml

@micropython.asm_thumb
def spin(r0):
    label(loop)
    sub(r0, r0, 1)
    bne(loop)

def spin_us(n):
    t0 = time.ticks_us()
    spin(n)
    return time.ticks_diff(time.ticks_us(), t0)

def empty_us(n):
    t0 = time.ticks_us()
    for _ in range(n):
        pass
    return time.ticks_diff(time.ticks_us(), t0)

print('U', sys.version.split('; ')[-1].replace(' ', '_'), sys.implementation._machine.replace(' ', '_'))
print('C', %(calibration)s, [spin_us(n) for n in %(calibration)s])
import tinyml._viper as viper
import machine
# mp_obj_fun_bc_t: base, context, child_table, then the code pointer (32-bit port)
at = machine.mem32[id(viper.mac) + 12]
print('M', at, bytes(machine.mem8[at + i] for i in range(2048)).hex())
for round in range(%(rounds)d):
    for line in open('models.txt'):
        name, n = line.split()
        n = int(n)
        m = tinyml.load(name, 'viper')
        inp = m.input
        for i in range(len(inp)):
            inp[i] = (i * 37 + 11) %% 256 - 128
        invoke = m.invoke
        invoke()
        t0 = time.ticks_us()
        for _ in range(n):
            invoke()
        dt = time.ticks_diff(time.ticks_us(), t0)
        print('R', name, n, dt, empty_us(n), bytes(m.output).hex())
        m = invoke = None
        gc.collect()
print('DONE')
"""


class BenchError(Exception):
    pass


def firmware_from_env(value: str | None) -> dict[str, Path]:
    """TINYML_QEMU_FIRMWARE -> {machine: firmware path}; a bad entry is a BenchError naming it."""
    out = {}
    for entry in filter(None, (value or "").split(",")):
        machine, sep, path = entry.partition("=")
        if not sep or machine not in MACHINES:
            raise BenchError(f"TINYML_QEMU_FIRMWARE entry {entry!r}: expected MACHINE=PATH with MACHINE one of "
                             f"{', '.join(MACHINES)}")
        if not Path(path).is_file():
            raise BenchError(f"TINYML_QEMU_FIRMWARE entry {entry!r}: no file {path}")
        out[machine] = Path(path)
    return out


# --- the models -------------------------------------------------------------------------------
def _layer(n_in: int, n_out: int, seed: int):
    from bench import bench_layer

    return bench_layer(n_in, n_out, seed)[0]


def synthetic_models() -> dict[str, list]:
    """name -> layers: single layers at the bench shapes and AD01's, chains to separate per-layer costs."""
    from bench import AD01_WIDTHS, SHAPES

    shapes = [(1, 1)] + SHAPES + sorted(set(zip(AD01_WIDTHS, AD01_WIDTHS[1:])) - set(SHAPES))
    models = {f"fc{n_in}x{n_out}": [_layer(n_in, n_out, 1)] for n_in, n_out in shapes}
    for depth in (2, 4):
        models[f"chain16x{depth}"] = [_layer(16, 16, k) for k in range(depth)]
    for depth in (2, 4, 8):
        models[f"chain1x{depth}"] = [_layer(1, 1, k) for k in range(depth)]
    return models


def tmdl_of(layers):
    from tinyml_host.tmdl import TmdlModel

    return TmdlModel.dense(layers, input_scale=0.05, input_zp=-3, output_scale=0.1, output_zp=-3)


def real_models() -> dict:
    """The sine model and AD01 from ../shared/models (checks, not fitted), as TmdlModels."""
    from tinyml_host import export

    out = {}
    for name, file in (("sine", "hello_world_int8.tflite"), ("ad01", "ad01_int8.tflite")):
        path = SHARED_MODELS / file
        if path.exists():
            out[name] = export.convert(path.read_bytes())
    return out


def device_input(n: int) -> np.ndarray:
    return np.array([(i * 37 + 11) % 256 - 128 for i in range(n)], np.int8)


def macs(model) -> int:
    return sum(l.weights.size for l in model.layers)


def expected_output(model) -> bytes:
    from tinyml_host.reference import run

    return run(model, device_input(model.input_size).reshape(1, -1)).astype(np.int8).reshape(-1).tobytes()


# --- running qemu -----------------------------------------------------------------------------
def run_on_qemu(machine: str, firmware: Path, folder: Path, timeout: float = 3600) -> str:
    """Boot the firmware under qemu with -icount shift=0, run DEVICE_SCRIPT from a mount of `folder`."""
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-machine", machine, *MACHINES[machine]["qemu_args"], "-nographic", "-monitor", "null",
         "-semihosting", "-icount", "shift=0", "-serial", "pty", "-kernel", str(firmware)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        pty = None
        deadline = time.monotonic() + 30
        while pty is None and time.monotonic() < deadline:
            line = qemu.stdout.readline()
            found = re.search(r"/dev/pts/\d+", line)
            pty = found.group(0) if found else None
        if pty is None:
            raise BenchError(f"qemu-system-arm -machine {machine} printed no pty")
        done = subprocess.run([sys.executable, "-m", "mpremote", "connect", pty, "mount", ".", "run", "bench_viper.py"],
                              cwd=folder, capture_output=True, text=True, timeout=timeout)
        if "DONE" not in done.stdout:
            raise BenchError(f"the viper bench on qemu {machine} did not finish:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return done.stdout
    finally:
        qemu.kill()
        qemu.wait()


def parse(out: str) -> dict:
    result = {"rows": {}}
    for line in out.splitlines():
        kind, _, rest = line.strip().partition(" ")
        if kind == "U":
            result["version"], result["machine_name"] = rest.split(" ")
        elif kind == "C":
            n0, n1, us0, us1 = eval_ints(rest)
            result["calibration"] = ((n0, n1), (us0, us1))
        elif kind == "M":
            at, _, code = rest.partition(" ")
            result["mac_code"] = (int(at), bytes.fromhex(code.strip()))
        elif kind == "R":
            name, n, dt, empty, output = rest.split(" ")
            result["rows"].setdefault(name, []).append(
                {"n": int(n), "us": int(dt), "empty_us": int(empty), "output": bytes.fromhex(output)})
    return result


def eval_ints(text: str) -> list[int]:
    return [int(v) for v in re.findall(r"-?\d+", text)]


def check_calibration(calibration, expected: float) -> float:
    """Instructions per ticks_us() step from the 2-instruction loop; must be `expected` within 0.1 %."""
    (n0, n1), (us0, us1) = calibration
    per_us = 2 * (n1 - n0) / (us1 - us0)
    if abs(per_us / expected - 1) > 1e-3:
        raise BenchError(f"-icount shift=0 does not count as assumed: a loop of {2 * (n1 - n0)} more instructions "
                         f"took {us1 - us0} us more of ticks_us ({per_us:.1f} instructions per us, expected {expected:g})")
    return per_us


# --- the MAC loop, traced and priced ----------------------------------------------------------
def _branch_target(ins) -> int | None:
    return int(ins.op_str[1:], 16) if ins.kind == "branch" and ins.op_str.startswith("#0x") else None


def mac_loop(code: bytes, address: int, emitter: str):
    """One iteration of the MAC loop of viper's mac() as it executes: [(insn, taken)].

    The loop is the innermost span from a backward branch's target to that branch holding the
    most multiplies (the shortest of those): mac() unrolls its main loop by 4 inputs and has a
    one-input loop for the rest, which runs only for n_in % 4 inputs.
    Inside it the armv6m emitter materializes `i < n` as a 0/1 in r0 with forward branches
    (blt over `movs r0, #0; b`) before `cmp r0, #0; bne head`; of the paths through those branches
    the one that goes round again is the one whose last `movs r0, #imm` before the back branch is not 0.
    Exactly one such path must exist, else a BenchError (the emitter's code changed: look again)."""
    import capstone
    from capstone import arm

    from cycles import decode

    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    insns = [decode(md, arm, bytes(i.bytes), i.address) for i in md.disasm(code, address)]
    best = None
    for k, ins in enumerate(insns):
        target = _branch_target(ins)
        if target is None or target >= ins.address:
            continue
        body = [i for i in insns[:k + 1] if i.address >= target]
        if any((t := _branch_target(i)) is not None and target <= t < i.address for i in body[:-1]):
            continue  # an outer loop: the MAC loop is an innermost one
        muls = sum(i.kind == "mul" for i in body)
        if muls and (best is None or (muls, -len(body)) > (sum(i.kind == "mul" for i in best), -len(best))):
            best = body
    if best is None:
        raise BenchError(f"no loop with a multiply found in viper's mac() ({emitter} code at {address:#x})")
    paths = [p for p in _paths(best) if _goes_round(p)]
    if len(paths) != 1:
        raise BenchError(f"viper's mac() loop ({emitter}): {len(paths)} paths go round, expected 1")
    return paths[0]


def macs_per_iteration(loop) -> int:
    """Multiplies in one iteration of the MAC loop: the MACs it does."""
    return sum(ins.kind == "mul" for ins, _ in loop)


def _paths(body):
    """Every path from the loop head to its back branch, following forward branches inside the loop."""
    at = {ins.address: k for k, ins in enumerate(body)}
    out, todo = [], [(0, [])]
    while todo:
        k, path = todo.pop()
        ins = body[k]
        if k == len(body) - 1:
            out.append(path + [(ins, True)])
            continue
        target = _branch_target(ins)
        if target is None or target not in at:
            todo.append((k + 1, path + [(ins, False)]))
            continue
        todo.append((at[target], path + [(ins, True)]))
        if ins.conditional_branch:
            todo.append((k + 1, path + [(ins, False)]))
    return out


def _goes_round(path) -> bool:
    """False when the path sets r0 to 0 right before `cmp r0, #0; bne head`, or before the form the
    emitter uses when head is out of a conditional branch's reach, `cmp r0, #0; beq out; b head`
    (that path leaves the loop). Moves inside an IT block (the armv7m emitter's `ite lt; movs r0, #1;
    movs r0, #0`) are conditional and decide nothing here: that code has a single path."""
    def is_cmp_r0(ins):
        return ins.mnemonic.startswith("cmp") and ins.op_str == "r0, #0"

    near = len(path) >= 2 and is_cmp_r0(path[-2][0])
    far = (len(path) >= 3 and is_cmp_r0(path[-3][0]) and path[-2][0].mnemonic == "beq"
           and path[-1][0].mnemonic == "b")
    tests_r0 = near or far
    last, in_it = None, 0
    for ins, _ in path:
        if ins.mnemonic.startswith("it"):
            in_it = len(ins.mnemonic) - 1  # it, ite, itte...: one letter per instruction it covers
            continue
        if not in_it and ins.mnemonic.startswith("mov") and ins.op_str.startswith("r0, #"):
            last = int(ins.op_str.split("#")[1], 0)
        in_it = max(0, in_it - 1)
    return not tests_r0 or last is None or last != 0


def loop_cycles(loop, core: str) -> int:
    """Cycles of one iteration [(insn, taken)] under cycles.py's model of `core`; the instruction
    before the first is the loop's own last (the previous iteration's back branch)."""
    from cycles import cost_m0plus, cost_m4

    cost = cost_m0plus if core == "cortex-m0plus" else cost_m4
    total, prev = 0, loop[-1][0]
    for ins, taken in loop:
        total += cost(prev, ins, taken)
        prev = ins
    return total


# --- the fit ----------------------------------------------------------------------------------
FEATURES = ("per_invoke", "per_layer", "per_output", "per_mac")


def features(model) -> list[float]:
    return [1.0, float(len(model.layers)), float(sum(l.weights.shape[0] for l in model.layers)), float(macs(model))]


def fit(models: dict, instructions: dict) -> dict:
    names = sorted(instructions)
    a = np.array([features(models[n]) for n in names])
    b = np.array([instructions[n] for n in names])
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    return dict(zip(FEATURES, (round(float(c), 2) for c in coef)))


def fitted(coef: dict, model) -> float:
    return float(np.dot([coef[f] for f in FEATURES], features(model)))


# --- one machine ------------------------------------------------------------------------------
def measure_machine(machine: str, firmware: Path, models: dict, checks: dict) -> dict:
    from tinyml_host import tmdl

    every = {**models, **checks}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run(["cp", "-r", str(DEVICE_PACKAGE), str(folder / "tinyml")], check=True)
        lines = []
        for name, model in every.items():
            (folder / f"{name}.tmdl").write_bytes(tmdl.encode(model))
            guess = 5000 + 50 * len(model.layers) + 20 * macs(model)  # a rough count, only to size n
            lines.append(f"{name}.tmdl {max(3, TARGET_INSTRUCTIONS // guess)}")
        (folder / "models.txt").write_text("\n".join(lines) + "\n")
        calibration = "(%d, %d)" % CALIBRATION
        (folder / "bench_viper.py").write_text(DEVICE_SCRIPT % {"calibration": calibration, "rounds": ROUNDS})
        out = run_on_qemu(machine, firmware, folder)
    RAW.parent.mkdir(parents=True, exist_ok=True)
    RAW.with_name(f"viper_{machine}.txt").write_text(out)  # the device's own lines, for checking by hand
    result = parse(out)
    per_tick = MACHINES[machine]["instructions_per_tick"]
    measured_per_tick = check_calibration(result["calibration"], per_tick)
    instructions, spread = {}, {}
    for name, model in every.items():
        rounds = result["rows"][f"{name}.tmdl"]
        if any(r["output"] != expected_output(model) for r in rounds):
            raise BenchError(f"{name} on qemu {machine}: viper output differs from the numpy reference")
        counts = [per_tick * (r["us"] - r["empty_us"]) / r["n"] for r in rounds]
        # the lowest of the rounds: a disturbance only adds (the first model of the first round
        # has counted several times its later figure)
        instructions[name] = round(min(counts))
        spread[name] = round(max(counts) / min(counts) - 1, 4)
    coef = fit(models, {n: instructions[n] for n in models})
    at, code = result["mac_code"]
    loop = mac_loop(code, at, MACHINES[machine]["emitter"])
    k = macs_per_iteration(loop)
    if abs(coef["per_mac"] - len(loop) / k) > 0.5:  # the traced loop must be what the counts say runs per MAC
        raise BenchError(f"qemu {machine}: {coef['per_mac']} instructions per MAC counted, but the traced MAC loop "
                         f"has {len(loop)} for {k} MACs")
    return {
        "machine": machine, "core": MACHINES[machine]["core"], "emitter": MACHINES[machine]["emitter"],
        "firmware": str(firmware), "micropython": result["version"], "board": result["machine_name"],
        "instructions_per_tick": {"assumed": per_tick, "calibrated": round(measured_per_tick, 1)},
        "instructions": instructions, "spread_over_rounds": spread, "fit": coef,
        "checks": {n: {"measured": instructions[n], "fitted": round(fitted(coef, checks[n]))} for n in checks},
        # per MAC: one iteration's instructions and cycles over the MACs it does
        "mac_loop": {"instructions": len(loop) / k, "macs_per_iteration": k,
                     "code": [f"{i.mnemonic} {i.op_str}".strip() for i, _ in loop],
                     "cycles": {core: loop_cycles(loop, core) / k for emitter, core in EMITTER_OF_CPU.values()
                                if emitter == MACHINES[machine]["emitter"]}},
        "models": {n: {"layers": [list(l.weights.shape[::-1]) for l in every[n].layers]} for n in every},
    }


def board_costs(measured: dict) -> dict:
    """Per boards.json cpu: what estimate() needs: the fit in instructions, the MAC loop's instructions
    and cycles per MAC, or why there is none."""
    per_emitter = {}
    for m in measured:
        per_emitter.setdefault(m["emitter"], m)  # the first machine named for an emitter stands for it
    out = {}
    for cpu, (emitter, core) in EMITTER_OF_CPU.items():
        m = per_emitter.get(emitter)
        if m is None:
            out[cpu] = {"why_not": f"no qemu firmware with the {emitter} viper emitter was measured"}
            continue
        out[cpu] = {"emitter": emitter, "measured_on": m["machine"], "priced_as": core, **m["fit"],
                    "loop_instructions_per_mac": m["mac_loop"]["instructions"],
                    "loop_cycles_per_mac": m["mac_loop"]["cycles"][core]}
    for cpu, why in NOT_RUN.items():
        out[cpu] = {"why_not": why}
    return out


def write(measured: list[dict], command: str, path: Path) -> dict:
    data = {
        "what": "viper backend: executed instructions per invoke() measured on MicroPython's qemu port "
                "(-icount shift=0), fitted per emitter; cycles = MAC-loop instructions priced by cycles.py "
                "+ every other instruction at 1 cycle (the minimum: untraced interpreter code)",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "qemu": subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
        "command": command,
        "cpus": board_costs(measured),
        "machines": measured,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


def skip_reason() -> str | None:
    """Why the viper row cannot run here, or None."""
    import shutil

    if shutil.which("qemu-system-arm") is None:
        return "qemu-system-arm not found (`make system-packages`)"
    if not os.environ.get("TINYML_QEMU_FIRMWARE"):
        return ("TINYML_QEMU_FIRMWARE is not set: MACHINE=PATH[,...] of MicroPython qemu-port firmware built outside "
                "this repo (docs/benchmarks.md, 'Viper on the boards')")
    return None


def measure_all(out: Path, update_shipped: bool) -> dict:
    """Measure every machine TINYML_QEMU_FIRMWARE names; write out/viper_costs.json and, when
    update_shipped, the table the package ships. BenchError on any problem."""
    firmware = firmware_from_env(os.environ.get("TINYML_QEMU_FIRMWARE"))
    models = {n: tmdl_of(layers) for n, layers in synthetic_models().items()}
    measured = []
    for machine, path in firmware.items():
        checks = real_models()
        these = models
        if machine == "microbit":  # 256 KB of RAM: AD01 (270 KB of weights) and its 80 K-MAC layers do not
            checks.pop("ad01", None)  # fit, and after the smaller models 1024x64's 64 KB is not in one piece
            these = {n: m for n, m in models.items() if macs(m) <= 20_000}
        measured.append(measure_machine(machine, path, these, checks))
    command = ("TINYML_QEMU_FIRMWARE=" + ",".join(f"{m}=.../{p.parent.name}/{p.name}" for m, p in firmware.items())
               + " python native/tools/viper_bench.py")
    data = write(measured, command, out / "viper_costs.json")
    if update_shipped:
        VIPER_COSTS.write_text((out / "viper_costs.json").read_text())
    return data


def main(argv=None) -> int:
    why = skip_reason()
    if why:
        print(f"viper row skipped: {why}")
        return 0
    try:
        data = measure_all(ROOT / "out" / "bench", update_shipped=True)
    except BenchError as e:
        print(f"viper bench: error: {e}", file=sys.stderr)
        return 1
    print_tables(data)
    print(f"updated {VIPER_COSTS.relative_to(ROOT)}")
    return 0


def print_tables(data: dict) -> None:
    for m in data["machines"]:
        print(f"viper on qemu {m['machine']} ({m['core']}, {m['emitter']} emitter, {m['micropython']})")
        print(f"  fit: {m['fit']}")
        print(f"  MAC loop: {m['mac_loop']['instructions']} instructions, cycles {m['mac_loop']['cycles']}")
        for name, n in m["instructions"].items():
            model = m["models"][name]["layers"]
            mac = sum(a * b for a, b in model)
            print(f"  {name:<14} {n:>10,} instructions  {n / mac:8.2f} per MAC")
        for name, c in m["checks"].items():
            print(f"  check {name}: measured {c['measured']:,}, fitted {c['fitted']:,} "
                  f"({(c['fitted'] - c['measured']) / c['measured']:+.2%})")


if __name__ == "__main__":
    sys.exit(main())
