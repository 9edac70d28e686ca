"""native/core cross-compiled for Cortex-M and RISC-V and run under Unicorn, one call at a time.

    from crossrun import Machine, build
    elf = build("cortex-m4", Path("out/arm"))
    m = Machine(elf, "cortex-m4")
    status, out = m.fc("tml_fc_s8", layer, x, "tflm")
    m.variant()                     # "arm-dsp"

`build` runs the CPU's cross compiler (Debian: gcc-arm-none-eabi for Cortex-M,
gcc-riscv64-unknown-elf for rv32) on native/core/{requantize,fc_s8_ref,fc_s8}.c plus
native/tools/emu_support.c, freestanding (no C library, no start files, libgcc for the 64-bit
helpers), linked at fixed addresses: code from FLASH, data and stack in RAM. `Machine` loads
the ELF into Unicorn (PyPI: unicorn) as a CPU of the matching model (M0 for the M0+: same
Armv6-M instruction set, so a Thumb-2 instruction in the M0+ build faults; SiFive E31 for
rv32imac), calls functions with the platform's calling convention (AAPCS r0-r3 then the
stack; RISC-V a0-a7) and a return address that stops the emulation, and reads the results
back from emulated RAM.

A fault (undefined instruction, unaligned word access on Armv6-M, bad address) stops the
call with EmuFault; so does a call that has not returned after `timeout` seconds.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from dataclasses import dataclass
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
CORE_SOURCES = ["requantize.c", "fc_s8_ref.c", "fc_s8.c", "model.c", "check.c", "features.c"]
SUPPORT = TOOLS / "emu_support.c"

# Memory map (the same for every CPU): vector table and code in FLASH, data and stack in RAM.
FLASH, FLASH_SIZE = 0x0000_0000, 0x0004_0000
RAM, RAM_SIZE = 0x2000_0000, 0x0080_0000     # 8 MiB: room for a 1024x1024 layer and more
STACK_TOP = RAM + RAM_SIZE
STACK_SIZE = 0x1_0000
HEAP = RAM + 0x1000                          # below: the linker's .data/.bss
RETURN = 0x100                               # functions return here; emu_start stops on it
FAULT = 0x110                                # every exception vector points here
CODE = 0x400                                 # .text starts here

INSTALL_UNICORN = "the unicorn package is missing: `make setup` (pip install 'unicorn>=2.1,<2.2')"


@dataclass(frozen=True)
class Cpu:
    name: str
    arch: str              # "arm" or "riscv"
    cflags: tuple[str, ...]
    uc_model: str          # name of the UC_CPU_* model in unicorn.arm_const / riscv_const
    variant: str           # what tml_fc_s8_variant() must say on this CPU

    @property
    def gcc(self) -> str:
        return "arm-none-eabi-gcc" if self.arch == "arm" else "riscv64-unknown-elf-gcc"


CPUS = {
    "cortex-m0plus": Cpu("cortex-m0plus", "arm", ("-mthumb", "-mcpu=cortex-m0plus"), "UC_CPU_ARM_CORTEX_M0",
                         "armv6-m"),
    "cortex-m4": Cpu("cortex-m4", "arm", ("-mthumb", "-mcpu=cortex-m4", "-mfloat-abi=soft"), "UC_CPU_ARM_CORTEX_M4",
                     "arm-dsp"),
    "cortex-m33": Cpu("cortex-m33", "arm", ("-mthumb", "-mcpu=cortex-m33", "-mfloat-abi=soft"),
                      "UC_CPU_ARM_CORTEX_M33", "arm-dsp"),
    # RP2350's Hazard3 cores (Pico 2 W in RISC-V mode) and the natmod ARCH rv32imc: the core
    # has no atomics, so rv32imac code is rv32imc code; rv32imac is the multilib Debian ships.
    "rv32imac": Cpu("rv32imac", "riscv", ("-march=rv32imac", "-mabi=ilp32", "--specs=picolibc.specs"), "UC_CPU_RISCV32_SIFIVE_E31",
                    "portable"),
}

EXPORTS = ("tml_fc_s8", "tml_fc_s8_ref", "tml_fc_s8_variant", "tml_requantize", "tml_fc_check",
           "tml_requantize_many", "tml_fc_s8_checked", "tml_model_check", "tml_model_run", "tml_fc_run_checked")

CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-g",
          "-ffunction-sections", "-fdata-sections", "-nostdlib", "-nostartfiles")


class ToolMissing(RuntimeError):
    pass


class EmuFault(RuntimeError):
    pass


ArmFault = EmuFault


def gcc(cpu: str = "cortex-m4") -> str:
    name = CPUS[cpu].gcc
    path = shutil.which(name)
    if not path:
        raise ToolMissing(system_packages.missing(name))
    return path


def _linker_script() -> str:
    return f"""
MEMORY {{
  FLASH (rx) : ORIGIN = {CODE:#x}, LENGTH = {FLASH_SIZE - CODE:#x}
  RAM (rwx)  : ORIGIN = {RAM:#x}, LENGTH = {HEAP - RAM:#x}
}}
SECTIONS {{
  .text : {{ *(.text .text.*) *(.rodata .rodata.*) }} > FLASH
  .data : {{ *(.data .data.*) }} > RAM AT > FLASH
  .bss : {{ *(.bss .bss.* COMMON) }} > RAM
  .sdata : {{ *(.sdata .sdata.* .srodata .srodata.*) }} > RAM AT > FLASH
  .sbss : {{ *(.sbss .sbss.*) }} > RAM
  /DISCARD/ : {{ *(.ARM.exidx*) *(.comment) *(.riscv.attributes) }}
}}
"""


def build(cpu: str, out_dir: Path, opt: str = "-O2", exports=EXPORTS, sources=None) -> Path:
    """Compile and link for `cpu`; returns the ELF. Only `exports` and what they reach are kept."""
    spec = CPUS[cpu]
    srcs = [CORE / s for s in CORE_SOURCES] + [SUPPORT] if sources is None else list(sources)
    flags = [*spec.cflags, *CFLAGS, opt]
    key = hashlib.sha256(repr((flags, list(exports), _linker_script())).encode()
                         + b"".join(s.read_bytes() for s in [*srcs, CORE / "tinyml.h"])).hexdigest()[:16]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    elf = out_dir / f"{cpu}{opt}-{key}.elf"
    if elf.exists():
        return elf
    lds = out_dir / f"{key}.ld"
    lds.write_text(_linker_script())
    cmd = [gcc(cpu), *flags, f"-I{CORE}", "-T", str(lds), "-Wl,--gc-sections", f"-Wl,-e,{exports[0]}",
           *[f"-Wl,-u,{name}" for name in exports], "-o", str(elf) + ".tmp", *map(str, srcs), "-lgcc"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{proc.stderr}")
    Path(str(elf) + ".tmp").rename(elf)
    return elf


# ---- a minimal ELF32 little-endian reader: loadable segments and the symbol table ----

@dataclass
class Elf:
    sections: dict[str, tuple[int, bytes]]       # allocated sections: name -> (address, contents)
    symbols: dict[str, tuple[int, int, int]]     # name -> (address, size, type)

    def code_bytes(self) -> int:
        """Bytes in FLASH: code, read-only data, initial values of .data."""
        return sum(len(blob) for name, (addr, blob) in self.sections.items()
                   if addr < RAM or name == ".data")


def read_elf(path: Path) -> Elf:
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise ValueError(f"{path}: not a 32-bit little-endian ELF")
    shoff, = struct.unpack_from("<I", data, 32)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 46)
    headers = [struct.unpack_from("<IIIIIIIIII", data, shoff + k * shentsize) for k in range(shnum)]

    def name_at(table, off):
        start = headers[table][4] + off
        return data[start:data.index(b"\0", start)].decode()

    sections, symbols = {}, {}
    for sh in headers:
        sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size = sh[:6]
        if sh_flags & 2 and sh_size:  # SHF_ALLOC: loaded at its run address (no start-up code copies .data)
            blob = bytes(sh_size) if sh_type == 8 else data[sh_offset:sh_offset + sh_size]  # SHT_NOBITS
            sections[name_at(shstrndx, sh_name)] = (sh_addr, blob)
        if sh_type == 2:  # SHT_SYMTAB
            for off in range(sh_offset, sh_offset + sh_size, 16):
                name_off, value, size, info, _, _ = struct.unpack_from("<IIIBBH", data, off)
                name = name_at(sh[6], name_off)
                if name and not name.startswith("$"):
                    symbols[name] = (value, size, info & 0xF)
    return Elf(sections, symbols)


# ---- the emulated CPU ----

def _unicorn():
    try:
        import unicorn
        from unicorn import arm_const, riscv_const
    except ImportError as e:
        raise ToolMissing(INSTALL_UNICORN) from e
    return unicorn, arm_const, riscv_const


class Machine:
    """One CPU with the ELF loaded; `call` runs one function to completion."""

    def __init__(self, elf: Path, cpu: str, timeout: float = 60.0):
        uc_mod, arm, rv = _unicorn()
        self.cpu = CPUS[cpu]
        self.elf = read_elf(elf)
        self.timeout_us = int(timeout * 1e6)
        self._UcError = uc_mod.UcError
        if self.cpu.arch == "arm":
            # Not UC_MODE_MCLASS: unicorn 2.1 then forces the Cortex-M33 model whatever is asked.
            # The M-profile models are M-class by themselves.
            self.uc = uc = uc_mod.Uc(uc_mod.UC_ARCH_ARM, uc_mod.UC_MODE_THUMB)
            uc.ctl_set_cpu_model(getattr(arm, self.cpu.uc_model))
            self._args = (arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1, arm.UC_ARM_REG_R2, arm.UC_ARM_REG_R3)
            self._sp, self._lr, self._pc = arm.UC_ARM_REG_SP, arm.UC_ARM_REG_LR, arm.UC_ARM_REG_PC
            self._thumb = 1
        else:
            self.uc = uc = uc_mod.Uc(uc_mod.UC_ARCH_RISCV, uc_mod.UC_MODE_RISCV32)
            uc.ctl_set_cpu_model(getattr(rv, self.cpu.uc_model))
            self._args = tuple(getattr(rv, f"UC_RISCV_REG_A{k}") for k in range(8))
            self._sp, self._lr, self._pc = rv.UC_RISCV_REG_SP, rv.UC_RISCV_REG_RA, rv.UC_RISCV_REG_PC
            self._thumb = 0
        uc.mem_map(FLASH, FLASH_SIZE)
        uc.mem_map(RAM, RAM_SIZE)
        if self.cpu.arch == "arm":
            vectors = struct.pack("<I", STACK_TOP) + struct.pack("<I", FAULT | 1) * 47
            uc.mem_write(FLASH, vectors)
            uc.mem_write(RETURN, b"\xfe\xe7")           # b . (never executed: the emulation stops first)
            uc.mem_write(FAULT, b"\xfe\xe7")            # b .
        else:  # RISC-V traps (illegal instruction, misaligned or bad access) end emu_start with an error
            uc.mem_write(RETURN, b"\x01\xa0")           # c.j . (never executed)
        for addr, blob in self.elf.sections.values():
            uc.mem_write(addr, blob)
        self.faulted = False

        def on_fault(uc_, address, size, user):
            self.faulted = True
            uc_.emu_stop()

        uc.hook_add(uc_mod.UC_HOOK_CODE, on_fault, begin=FAULT, end=FAULT + 1)
        self._heap = HEAP

    # -- memory --

    def symbol(self, name: str) -> int:
        if name not in self.elf.symbols:
            raise KeyError(f"{name} is not in the ELF")
        return self.elf.symbols[name][0]

    def reset_heap(self) -> None:
        self._heap = HEAP

    def put(self, data: bytes, align: int = 4, offset: int = 0) -> int:
        """Copy `data` to fresh RAM at an address that is `offset` past an `align` boundary."""
        addr = (self._heap + align - 1) // align * align + offset
        if addr + len(data) > STACK_TOP - STACK_SIZE:
            raise MemoryError("emulated RAM exhausted")
        self.uc.mem_write(addr, bytes(data))
        self._heap = addr + len(data)
        return addr

    def read(self, addr: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(addr, size))

    def cstring(self, addr: int) -> str:
        return self.read(addr, 64).split(b"\0")[0].decode()

    # -- calls --

    def call(self, name: str, *args: int) -> int:
        """A C call: arguments in r0-r3 then the stack (AAPCS) or a0-a7 (RISC-V); returns the
        result register as a signed int32."""
        uc = self.uc
        stack_args = [a & 0xFFFFFFFF for a in args[len(self._args):]]
        sp = STACK_TOP - 16 * ((len(stack_args) + 3) // 4)   # 16-byte aligned: enough for both ABIs
        if stack_args:
            uc.mem_write(sp, struct.pack(f"<{len(stack_args)}I", *stack_args))
        for reg, value in zip(self._args, args):
            uc.reg_write(reg, value & 0xFFFFFFFF)
        uc.reg_write(self._sp, sp)
        uc.reg_write(self._lr, RETURN | self._thumb)
        self.faulted = False
        entry = self.symbol(name)
        try:
            uc.emu_start(entry | self._thumb, RETURN, timeout=self.timeout_us)
        except self._UcError as e:
            pc = uc.reg_read(self._pc)
            raise EmuFault(f"{self.cpu.name}: {name} stopped at pc={pc:#x}: {e}") from e
        pc = uc.reg_read(self._pc)
        if self.faulted or pc != RETURN:
            raise EmuFault(f"{self.cpu.name}: {name} stopped at pc={pc:#x} "
                           f"({'fault' if self.faulted else 'timeout'})")
        r0 = uc.reg_read(self._args[0])
        return r0 - (1 << 32) if r0 & 0x80000000 else r0

    def variant(self) -> str:
        return self.cstring(self.call("tml_fc_s8_variant") & 0xFFFFFFFF)

    def fc(self, kernel: str, layer, x: np.ndarray, rounding: str, misalign: int = 0,
           params: tuple | None = None, null: str | None = None) -> tuple[int, np.ndarray]:
        """Run one int8 vector through `kernel` ("tml_fc_s8" or "tml_fc_s8_ref").

        The int8 buffers (x, weights, out) start `misalign` bytes past a word boundary; 16 guard
        bytes after `out` must come back untouched. `params` overrides the params struct,
        `null` passes NULL for one pointer ("p", "x", "w", "bias", "mult", "shift", "out").
        """
        n_out, n_in = layer.weights.shape
        if params is None:
            params = (n_in, n_out, len(layer.multiplier), layer.act_min, layer.act_max, layer.output_zp,
                      1 if rounding == "litert" else 0)
        self.reset_heap()
        guard = bytes(range(0xA0, 0xB0))
        ptrs = {
            "p": self.put(struct.pack("<7i", *params)),
            "x": self.put(np.ascontiguousarray(x, np.int8).tobytes(), offset=misalign),
            "w": self.put(_interleave(layer.weights), offset=misalign),
            "bias": self.put(np.ascontiguousarray(layer.bias, "<i4").tobytes()),
            "mult": self.put(np.ascontiguousarray(layer.multiplier, "<i4").tobytes()),
            "shift": self.put(np.ascontiguousarray(layer.shift, np.int8).tobytes()),
            "out": self.put(bytes(n_out) + guard, offset=misalign),
        }
        if null:
            ptrs[null] = 0
        status = self.call(kernel, *ptrs.values())
        out_addr = ptrs["out"] or self._heap - n_out - len(guard)
        raw = self.read(out_addr, n_out + len(guard))
        if raw[n_out:] != guard:
            raise EmuFault(f"{self.cpu.name}: {kernel} wrote past the end of out")
        return status, np.frombuffer(raw[:n_out], np.int8).copy()

    def fc_checked(self, case) -> tuple[int, bytes]:
        """tml_fc_run_checked on a harness.BufferCase: its arena placed at a word boundary.
        Returns the status and the whole arena afterwards (what was written, and where)."""
        self.reset_heap()
        p = self.put(struct.pack("<7i", *case.params))
        base = self.put(case.arena)
        b = self.put(struct.pack("<12I", *case.pointers_and_lengths(base)))
        status = self.call("tml_fc_run_checked", p, b)
        return status, self.read(base, len(case.arena))

    def model(self, layers, x: np.ndarray, rounding: str) -> tuple[int, int, np.ndarray]:
        """tml_model_check's status, then tml_model_run's status and output, for a chain of
        layers: a tml_fc_layer table (7 int32 params, then the weights, bias, multiplier and
        shift addresses) and every buffer in emulated RAM, scratch as native/core sizes it."""
        self.reset_heap()
        table = b""
        widest = max([l.weights.shape[0] for l in layers[:-1]], default=0)
        for l in layers:
            n_out, n_in = l.weights.shape
            params = struct.pack("<7i", n_in, n_out, len(l.multiplier), l.act_min, l.act_max, l.output_zp,
                                 1 if rounding == "litert" else 0)
            table += params + struct.pack("<4I", self.put(_interleave(l.weights)),
                                          self.put(np.ascontiguousarray(l.bias, "<i4").tobytes()),
                                          self.put(np.ascontiguousarray(l.multiplier, "<i4").tobytes()),
                                          self.put(np.ascontiguousarray(l.shift, np.int8).tobytes()))
        at = self.put(table)
        xp = self.put(np.ascontiguousarray(x, np.int8).tobytes())
        scratch = self.put(bytes(2 * widest)) if widest else 0
        n_out = layers[-1].weights.shape[0]
        out = self.put(bytes(n_out))
        checked = self.call("tml_model_check", at, len(layers))
        status = self.call("tml_model_run", at, len(layers), xp, out, scratch)
        return checked, status, np.frombuffer(self.read(out, n_out), np.int8).copy()

    def requantize_many(self, acc: np.ndarray, multiplier: int, shift: int, rounding: int) -> np.ndarray:
        """tml_requantize on every element of `acc`, in one emulated call (emu_support.c)."""
        self.reset_heap()
        acc = np.ascontiguousarray(acc, "<i4")
        src = self.put(acc.tobytes())
        dst = self.put(bytes(4 * len(acc)))
        self.call("tml_requantize_many", src, len(acc), dst, multiplier, shift, rounding)
        return np.frombuffer(self.read(dst, 4 * len(acc)), "<i4").astype(np.int64)
