"""native/core cross-compiled for Xtensa LX106 and run under QEMU, many calls per run.

    from xtensarun import build, Job, run
    elf = build(Path("out/xtensa"))
    job = Job()
    h = job.fc("tml_fc_s8", layer, x, "tflm", misalign=1)
    result = run(elf, job)
    status, out = result.fc(h)              # int32 status, int8 outputs
    result.variant                          # "portable"

`build` runs xtensa-lx106-elf-gcc (Debian: gcc-xtensa-lx106; the ESP8266's core, the same
base Xtensa ISA as the ESP32's LX6 and the ESP32-S3's LX7, without their MUL32_HIGH, SEXT,
MIN/MAX, zero-overhead loop and MAC16 options, and with the call0 ABI instead of the windowed
one) on native/core/{requantize,fc_s8_ref,fc_s8}.c, native/tools/emu_support.c, the driver
xtensa_driver.c and its start-up xtensa_start.S, freestanding (no C library: Debian ships
none for lx106, so an empty string.h stands in; the portable path calls nothing from it),
libgcc, plus xtensa_libgcc.c for the __muldi3 Debian's lx106 libgcc lacks.

`run` writes the job (a header, a table of calls and every buffer, at 0x60000000 in QEMU's
sysram) to a file, starts `qemu-system-xtensa -M sim -cpu lx106 -semihosting` with the ELF as
the kernel and the job beside it (`-device loader`), and reads back the header, the call table
and the outputs, which the driver writes to stdout through semihosting. QEMU's sim machine
for lx106 starts at the reset vector, 0x50000000 (sysrom, where .reset jumps to _start), and
maps instram0 at 0x40000000 (code; VECBASE, so the driver's exception vectors sit
there and turn any fault into an exit code), dataram0 at 0x3FFC0000 (data and stack) and
sysram at 0x60000000 (the job).

Instruction counts: with `icount=True` QEMU runs with `-icount shift=10`: virtual time
advances exactly 2^10 ns per executed instruction, and the driver reads CCOUNT, which QEMU
derives from virtual time at the lx106 configuration's 40 MHz, right before and after each
call: 40.96 ticks per instruction, +-1 tick of truncation, so rounding ticks / 40.96 gives
the exact count. `calibrate()` measures the ticks per instruction on a loop of known length
(xt_loop: 2 n + 1 instructions) and the driver's own part of a kernel call (argument loads,
CALLX0, the CCOUNT read: the count of xt_ret_fc, a kernel that only returns, less its RET);
`Result.instructions` subtracts it, so a kernel's count runs from its first instruction to
its RET, as in cycles.py.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import system_packages


def _interleave(weights) -> bytes:
    """Row-major weights in the .tmdl layout, the order the core reads (docs/format.md)."""
    from tinyml_host.tmdl import interleave

    return interleave(weights)

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "native" / "core"
TOOLS = ROOT / "native" / "tools"
CORE_SOURCES = ["requantize.c", "fc_s8_ref.c", "fc_s8.c", "model.c", "check.c",
                "conv_check.c", "conv_s8_ref.c", "conv_s8.c", "dwconv_s8.c", "pool_s8.c", "add_s8.c", "softmax_s8.c"]
LIBGCC = TOOLS / "xtensa_libgcc.c"   # __muldi3: missing from Debian's libgcc for lx106
DRIVER = [LIBGCC, TOOLS / "emu_support.c", TOOLS / "xtensa_driver.c", TOOLS / "xtensa_start.S"]

GCC = "xtensa-lx106-elf-gcc"
QEMU = "qemu-system-xtensa"

JOB_BASE = 0x6000_0000          # QEMU sim machine: sysram0, 128 MiB by default
JOB_LIMIT = 0x0800_0000
JOB_MAGIC = 0x4A4D4C54
HEADER = struct.Struct("<4I16s")
CALL = struct.Struct("<i7IiI")  # fn, args[7], result, ticks
FN = {"tml_fc_s8": 0, "tml_fc_s8_ref": 1, "tml_requantize_many": 2, "ret": 3, "loop": 4, "tml_fc_s8_checked": 5,
      "tml_fc_run_checked": 6}
FAULTS = {102: "debug exception", 103: "NMI", 104: "kernel exception (a fault)",
          105: "user exception (a fault)", 106: "double exception (a fault)",
          3: "no job at 0x60000000", 4: "semihosting write failed"}
ICOUNT_SHIFT = 10               # 2^10 ns of virtual time per instruction

CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-g", "-ffreestanding",
          "-mlongcalls", "-ffunction-sections", "-fdata-sections", "-nostdlib", "-nostartfiles")


class ToolMissing(RuntimeError):
    pass


class EmuFault(RuntimeError):
    pass


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ToolMissing(system_packages.missing(name))
    return path


def require_tools() -> None:
    tool(GCC)
    tool(QEMU)


LINKER_SCRIPT = """
MEMORY {
  RESET (rx)   : ORIGIN = 0x50000000, LENGTH = 0x100
  VECTORS (rx) : ORIGIN = 0x40000000, LENGTH = 0x100
  IRAM (rx)    : ORIGIN = 0x40000100, LENGTH = 0xFFF00
  DRAM (rw)    : ORIGIN = 0x3FFC0000, LENGTH = 0x30000
}
__stack_top = 0x40000000;
SECTIONS {
  .reset : { KEEP(*(.reset)) } > RESET
  .vectors : { KEEP(*(.vectors)) } > VECTORS
  .text : { *(.literal .text .literal.* .text.*) } > IRAM
  .rodata : { *(.rodata .rodata.*) } > DRAM
  .data : { *(.data .data.*) } > DRAM
  .bss : { *(.bss .bss.* COMMON) } > DRAM
  /DISCARD/ : { *(.comment) *(.xtensa.info) *(.xt.*) }
}
"""

KERNEL_SCRIPT = """
SECTIONS {
  .text 0x40000000 : { *(.literal .text .literal.* .text.*) }
  .rodata : { *(.rodata .rodata.*) }
  .data : { *(.data .data.*) }
  .bss : { *(.bss .bss.* COMMON) }
  /DISCARD/ : { *(.comment) *(.xtensa.info) *(.xt.*) }
}
"""


def _link(out_dir: Path, name: str, flags, script: str, srcs, extra) -> Path:
    key = hashlib.sha256(repr((flags, script, extra)).encode()
                         + b"".join(Path(s).read_bytes() for s in [*srcs, CORE / "tinyml.h", CORE / "kernel.h"])).hexdigest()[:16]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    elf = out_dir / f"{name}-{key}.elf"
    if elf.exists():
        return elf
    inc = out_dir / "include"
    inc.mkdir(exist_ok=True)
    # fc_s8.c includes string.h for the Arm path's memcpy; Debian has no C library for lx106
    (inc / "string.h").write_text("/* empty: native/core's portable path needs nothing from it */\n")
    lds = out_dir / f"{key}.ld"
    lds.write_text(script)
    cmd = [tool(GCC), *flags, f"-I{CORE}", f"-I{inc}", "-T", str(lds), "-Wl,--gc-sections", *extra,
           "-o", str(elf) + ".tmp", *map(str, srcs), "-lgcc"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{proc.stderr}")
    Path(str(elf) + ".tmp").rename(elf)
    return elf


def build(out_dir: Path, opt: str = "-O2") -> Path:
    """The core, the driver and its start-up in one ELF for QEMU."""
    srcs = [CORE / s for s in CORE_SOURCES] + DRIVER
    return _link(out_dir, f"lx106{opt}", [*CFLAGS, opt], LINKER_SCRIPT, srcs, ["-Wl,-e,_reset"])


def code_bytes(kernel: str, out_dir: Path, opt: str = "-O2") -> int:
    """What a firmware links for `kernel` alone: code, literals, read-only data, libgcc helpers."""
    import crossrun

    srcs = [CORE / s for s in CORE_SOURCES] + [LIBGCC]
    elf = _link(out_dir, f"lx106{opt}-{kernel}", [*CFLAGS, opt], KERNEL_SCRIPT, srcs,
                [f"-Wl,-e,{kernel}", f"-Wl,-u,{kernel}"])
    return sum(len(blob) for name, (_, blob) in crossrun.read_elf(elf).sections.items() if name != ".bss")


# ---- the job: calls and buffers laid out at JOB_BASE ----

@dataclass
class _Call:
    fn: int
    args: list
    out: tuple | None = None      # (address, length, guard bytes) checked after the run


@dataclass
class Job:
    """Calls to make in one QEMU run. Outputs go in the front part (written back), inputs behind."""
    calls: list = field(default_factory=list)
    _outputs: list = field(default_factory=list)     # (offset in output area, bytes)
    _inputs: list = field(default_factory=list)      # (offset in input area, bytes)
    _out_size: int = 0
    _in_size: int = 0
    _buffer_tables: list = field(default_factory=list)  # (input offset, arena's output offset, case)

    def _out(self, data: bytes, align: int = 4, offset: int = 0) -> int:
        pos = (self._out_size + align - 1) // align * align + offset
        self._outputs.append((pos, bytes(data)))
        self._out_size = pos + len(data)
        return pos

    def _in(self, data: bytes, align: int = 4, offset: int = 0) -> int:
        pos = (self._in_size + align - 1) // align * align + offset
        self._inputs.append((pos, bytes(data)))
        self._in_size = pos + len(data)
        return pos

    # addresses are resolved at layout time: ("out", pos) / ("in", pos) / 0 for NULL

    def fc(self, kernel: str, layer, x: np.ndarray, rounding: str, misalign: int = 0,
           params: tuple | None = None, null: str | None = None) -> int:
        """One int8 vector through `kernel`; x, weights and out start `misalign` bytes past a
        word boundary; 16 guard bytes after out must come back untouched. Returns a handle."""
        n_out, n_in = layer.weights.shape
        if params is None:
            params = (n_in, n_out, len(layer.multiplier), layer.act_min, layer.act_max, layer.output_zp,
                      1 if rounding == "litert" else 0)
        guard = bytes(range(0xA0, 0xB0))
        ptrs = {
            "p": ("in", self._in(struct.pack("<7i", *params))),
            "x": ("in", self._in(np.ascontiguousarray(x, np.int8).tobytes(), offset=misalign)),
            "w": ("in", self._in(_interleave(layer.weights), offset=misalign)),
            "bias": ("in", self._in(np.ascontiguousarray(layer.bias, "<i4").tobytes())),
            "mult": ("in", self._in(np.ascontiguousarray(layer.multiplier, "<i4").tobytes())),
            "shift": ("in", self._in(np.ascontiguousarray(layer.shift, np.int8).tobytes())),
            "out": ("out", self._out(bytes(n_out) + guard, offset=misalign)),
        }
        out = (ptrs["out"][1], n_out, guard)
        if null:
            ptrs[null] = 0
        self.calls.append(_Call(FN[kernel], list(ptrs.values()), out))
        return len(self.calls) - 1

    def fc_checked(self, case) -> int:
        """tml_fc_run_checked on a harness.BufferCase, its arena at a word boundary of the
        written-back area: Result.output(handle) is the whole arena after the call."""
        params = ("in", self._in(struct.pack("<7i", *case.params)))
        arena = self._out(case.arena)
        table = self._in(bytes(48))  # tml_fc_buffers: filled in by layout(), once addresses are known
        self._buffer_tables.append((table, arena, case))
        self.calls.append(_Call(FN["tml_fc_run_checked"], [params, ("in", table)], (arena, len(case.arena), b"")))
        return len(self.calls) - 1

    def requantize_many(self, acc: np.ndarray, multiplier: int, shift: int, rounding: int) -> int:
        acc = np.ascontiguousarray(acc, "<i4")
        src = ("in", self._in(acc.tobytes()))
        dst = ("out", self._out(bytes(4 * len(acc))))
        self.calls.append(_Call(FN["tml_requantize_many"], [src, len(acc), dst, multiplier, shift, rounding],
                                (dst[1], 4 * len(acc), b"")))
        return len(self.calls) - 1

    def raw(self, fn: str, *args: int) -> int:
        self.calls.append(_Call(FN[fn], list(args)))
        return len(self.calls) - 1

    def layout(self) -> tuple[bytes, int]:
        """The job image and how many bytes of it the driver writes back."""
        table = HEADER.size + CALL.size * len(self.calls)
        out_base = (table + 15) // 16 * 16
        in_base = (out_base + self._out_size + 15) // 16 * 16
        total = in_base + self._in_size
        if total > JOB_LIMIT:
            raise MemoryError(f"job of {total} bytes is larger than QEMU's sysram")
        image = bytearray(total)
        result_len = in_base
        HEADER.pack_into(image, 0, JOB_MAGIC, len(self.calls), result_len, 0, b"")
        base = {"out": JOB_BASE + out_base, "in": JOB_BASE + in_base}

        def addr(a):
            if isinstance(a, tuple):
                return base[a[0]] + a[1]
            return a & 0xFFFFFFFF

        for k, c in enumerate(self.calls):
            args = [addr(a) for a in c.args] + [0] * (7 - len(c.args))
            CALL.pack_into(image, HEADER.size + CALL.size * k, c.fn, *args, 0, 0)
        for pos, data in self._outputs:
            image[out_base + pos:out_base + pos + len(data)] = data
        for pos, data in self._inputs:
            image[in_base + pos:in_base + pos + len(data)] = data
        for pos, arena, case in self._buffer_tables:
            struct.pack_into("<12I", image, in_base + pos, *case.pointers_and_lengths(base["out"] + arena))
        self._out_base = out_base
        return bytes(image), result_len


@dataclass
class Result:
    job: Job
    image: bytes
    variant: str
    results: list
    ticks: list

    def status(self, handle: int) -> int:
        return self.results[handle]

    def output(self, handle: int) -> bytes:
        pos, length, guard = self.job.calls[handle].out
        start = self.job._out_base + pos
        raw = self.image[start:start + length + len(guard)]
        if raw[length:] != guard:
            raise EmuFault(f"call {handle} wrote past the end of its output")
        return raw[:length]

    def fc(self, handle: int) -> tuple[int, np.ndarray]:
        return self.status(handle), np.frombuffer(self.output(handle), np.int8).copy()

    def requantized(self, handle: int) -> np.ndarray:
        return np.frombuffer(self.output(handle), "<i4").astype(np.int64)

    def instructions(self, handle: int, cal: "Calibration") -> int:
        """Instructions executed by call `handle` (a run with icount=True), first to RET."""
        return round(self.ticks[handle] / cal.ticks_per_instruction) - cal.call_overhead


@dataclass(frozen=True)
class Calibration:
    ticks_per_instruction: float
    call_overhead: int       # driver instructions in a kernel call's count: its count of xt_ret_fc less 1


def calibrate(elf: Path) -> Calibration:
    """Ticks per instruction from xt_loop (2 n + 1 instructions), checked exact on several n."""
    ns = (1, 2, 3, 1001, 100001, 1000001)
    job = Job()
    ret = job.raw("ret")
    loops = [job.raw("loop", n) for n in ns]
    res = run(elf, job, icount=True)
    per = (res.ticks[loops[-1]] - res.ticks[loops[0]]) / (2 * (ns[-1] - ns[0]))
    counts = [round(res.ticks[h] / per) for h in loops]
    base = counts[0] - (2 * ns[0] + 1)
    if any(c - base != 2 * n + 1 for c, n in zip(counts, ns)):
        raise EmuFault(f"CCOUNT under -icount does not count instructions: loops of {ns} gave {counts}")
    return Calibration(per, round(res.ticks[ret] / per) - 1)


def qemu_command(elf: Path, job_file: Path, icount: bool) -> list[str]:
    return [tool(QEMU), "-M", "sim", "-cpu", "lx106", "-nodefaults", "-display", "none", "-monitor", "none",
            "-serial", "none", "-semihosting", *(["-icount", f"shift={ICOUNT_SHIFT}"] if icount else []),
            "-kernel", str(elf), "-device", f"loader,file={job_file},addr={JOB_BASE:#x},force-raw=on"]


def run(elf: Path, job: Job, timeout: float = 120.0, icount: bool = False) -> Result:
    """Make every call of `job` in one QEMU run."""
    image, result_len = job.layout()
    with tempfile.TemporaryDirectory(prefix="xtensarun-") as tmp:
        job_file = Path(tmp) / "job.bin"
        job_file.write_bytes(image)
        cmd = qemu_command(elf, job_file, icount)
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise EmuFault(f"QEMU did not finish in {timeout} s (a call looping?): {' '.join(cmd)}") from e
    if proc.returncode != 0 or len(proc.stdout) != result_len:
        done = HEADER.unpack_from(proc.stdout)[3] if len(proc.stdout) >= HEADER.size else "?"
        why = FAULTS.get(proc.returncode, f"exit status {proc.returncode}")
        raise EmuFault(f"QEMU run ended with {why} after {done} of {len(job.calls)} calls "
                       f"({len(proc.stdout)} of {result_len} bytes back): {proc.stderr.decode(errors='replace')[-2000:]}")
    out = proc.stdout
    magic, count, _, done, variant = HEADER.unpack_from(out)
    if magic != JOB_MAGIC or done != count:
        raise EmuFault(f"job came back incomplete: {done} of {count} calls")
    results, ticks = [], []
    for k in range(count):
        fields = CALL.unpack_from(out, HEADER.size + CALL.size * k)
        results.append(fields[8])
        ticks.append(fields[9])
    return Result(job, out, variant.split(b"\0")[0].decode(), results, ticks)
