"""Cycle estimates for code run under crossrun.Machine: count what executes, price it per core.

A UC_HOOK_CODE on the code range records every executed instruction together with the one
before it (pairs of addresses). Each address is decoded once with capstone and priced with
the documented instruction timings of the core (docs/benchmarks.md has the sources and the
simplifications):

- cortex-m0plus: Cortex-M0+ TRM instruction timings. 1 cycle, except loads and stores 2,
  LDM/STM/PUSH/POP 1+N (POP with PC 3+N), taken branch 2 (B, B<cond>, BX, BLX), BL 3, writes
  to PC 2; MULS 1 (the single-cycle multiplier option, as on RP2040).
- cortex-m4: Cortex-M4 TRM "Processor instruction timings". 1 cycle, including MUL/MLA/MLS,
  the long multiplies and the DSP multiplies; single loads 2, 1 when they pipeline behind a
  preceding single load or store that did not write back and whose destination the address
  does not use; stores with an immediate offset 1, other stores 2; +1 when a load or store
  address uses a register the previous (non-load) instruction wrote; LDRD/STRD and
  LDM/STM/PUSH/POP 1+N (+P with PC); taken branches and writes to PC 1+P with P = 2 (the TRM
  gives 1 to 3); not-taken conditional branches 1; SDIV/UDIV 12 (the TRM's maximum).
- cortex-m33: Arm publishes no per-instruction table for the M33; it is priced like the M4
  (same pipeline depth, single-cycle 32-bit and DSP multiplies), on the code GCC generates
  for -mcpu=cortex-m33.
- rv32imac: the Hazard3 core of the RP2350 (Pico 2 in RISC-V mode), from the instruction
  cycle counts in Hazard3's documentation, as configured on the RP2350 (fast multiplier):
  1 cycle, including MUL and MULH*; loads +1 when the next instruction uses the loaded
  register (as an operand or a load/store address; not as store data); JAL/JALR 2;
  conditional branches 1 when predicted, 2 when not, with Hazard3's predictor simulated
  exactly (it remembers the last taken backward branch and predicts only that one taken);
  +1 for a jump or taken branch to a 32-bit instruction that is not 4-byte aligned;
  DIV/REM 19. RiscvCycleCounter does this per executed instruction instead of per pair.

Memory is taken as zero-wait-state (code and data in SRAM or cache hits); no interrupts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

P = 2  # Cortex-M4/M33 pipeline refill after a taken branch (1..3 in the TRM)


@dataclass
class Insn:
    address: int
    size: int
    mnemonic: str
    op_str: str
    kind: str              # "load", "store", "ldm", "stm", "push", "pop", "branch", "call", "mul", "div", "alu"
    n_regs: int            # registers transferred by LDM/STM/PUSH/POP
    writes_pc: bool
    conditional_branch: bool
    dual: bool             # LDRD/STRD
    writeback: bool
    imm_offset: bool       # memory operand is [Rn, #imm] (or [Rn])
    addr_regs: frozenset   # registers used to form a memory address
    writes: frozenset      # registers written


def _decoder():
    import capstone
    from capstone import arm

    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    return md, arm


def decode(md, arm, code: bytes, address: int) -> Insn:
    insn = next(md.disasm(code, address, 1), None)
    if insn is None:
        raise ValueError(f"cannot decode {code.hex()} at {address:#x}")
    base = insn.mnemonic.split(".")[0]
    _, written = insn.regs_access()
    writes = frozenset(insn.reg_name(r) for r in written)
    mems = [o.mem for o in insn.operands if o.type == arm.ARM_OP_MEM]
    addr_regs = frozenset(insn.reg_name(r) for m in mems for r in (m.base, m.index) if r)
    imm_offset = bool(mems) and all(m.index == 0 for m in mems)
    writes_pc = "pc" in writes
    n_regs = 0
    if base in ("push", "pop") or base.startswith(("ldm", "stm")):
        n_regs = sum(1 for o in insn.operands if o.type == arm.ARM_OP_REG) - (0 if base in ("push", "pop") else 1)
    if base == "push" or base.startswith("stm"):
        kind = "push" if base == "push" else "stm"
    elif base == "pop" or base.startswith("ldm"):
        kind = "pop" if base == "pop" else "ldm"
    elif base.startswith("ldr"):
        kind = "load"
    elif base.startswith("str"):
        kind = "store"
    elif base in ("bl", "blx"):
        kind = "call"
    elif base in ("b", "bx", "cbz", "cbnz", "tbb", "tbh") or (base.startswith("b") and insn.id == arm.ARM_INS_B):
        kind = "branch"
    elif base in ("sdiv", "udiv"):
        kind = "div"
    elif "mul" in base or base.startswith(("mla", "mls", "sml", "smu", "umla", "uma", "smm")):
        kind = "mul"
    else:
        kind = "alu"
    conditional = kind == "branch" and (insn.cc not in (0, arm.ARM_CC_AL) or base in ("cbz", "cbnz"))
    return Insn(address, insn.size, insn.mnemonic, insn.op_str, kind, n_regs, writes_pc, conditional,
                base in ("ldrd", "strd"), bool(insn.writeback), imm_offset, addr_regs, writes)


def cost_m0plus(prev: Insn | None, cur: Insn, taken: bool) -> int:
    k = cur.kind
    if k in ("load", "store"):
        return 2 if not cur.writes_pc else 4
    if k in ("ldm", "stm", "push"):
        return 1 + cur.n_regs
    if k == "pop":
        return 3 + cur.n_regs if cur.writes_pc else 1 + cur.n_regs
    if k == "call":
        return 3 if cur.mnemonic == "bl" else 2
    if k == "branch":
        return 2 if taken else 1
    if cur.writes_pc:
        return 2
    return 1


def _pipelines(prev: Insn | None, cur: Insn) -> bool:
    return (prev is not None and prev.kind in ("load", "store") and not prev.dual and not prev.writeback
            and not prev.writes_pc and not (prev.kind == "load" and prev.writes & cur.addr_regs))


def cost_m4(prev: Insn | None, cur: Insn, taken: bool) -> int:
    k = cur.kind
    stall = 1 if (prev is not None and prev.kind not in ("load", "ldm", "pop") and cur.addr_regs
                  and prev.writes & cur.addr_regs) else 0
    if k == "load":
        if cur.writes_pc:
            return 2 + P + stall
        if cur.dual:
            return 3 + stall
        return (1 if _pipelines(prev, cur) else 2) + stall
    if k == "store":
        if cur.dual:
            return 3 + stall
        if _pipelines(prev, cur) or cur.imm_offset:
            return 1 + stall
        return 2 + stall
    if k in ("ldm", "stm", "push"):
        return 1 + cur.n_regs + stall
    if k == "pop":
        return 1 + cur.n_regs + (P if cur.writes_pc else 0)
    if k == "call":
        return 1 + P
    if k == "branch":
        if cur.mnemonic.startswith(("tbb", "tbh")):
            return 3 + P
        return 1 + P if taken else 1
    if k == "div":
        return 12
    if cur.writes_pc:
        return 1 + P
    return 1


MODELS = {"cortex-m0plus": cost_m0plus, "cortex-m4": cost_m4, "cortex-m33": cost_m4}


class CycleCounter:
    """Attach to a Machine; `measure(fn)` runs fn() and returns (instructions, cycles)."""

    def __init__(self, machine):
        import unicorn

        self.machine = machine
        self.model = MODELS[machine.cpu.name]
        self.md, self.arm = _decoder()
        self.decoded: dict[int, Insn] = {}
        self.pairs: Counter = Counter()
        self.prev = -1
        self.active = False
        self.by_pc: Counter = Counter()   # cycles per instruction address of the last measure()
        text_end = max(a + len(b) for a, b in machine.elf.sections.values() if a < 0x2000_0000)

        def on_code(uc, address, size, user):
            if self.active:
                self.pairs[(self.prev, address)] += 1
                self.prev = address

        machine.uc.hook_add(unicorn.UC_HOOK_CODE, on_code, begin=0x400, end=text_end)

    def insn(self, address: int) -> Insn:
        if address not in self.decoded:
            code = self.machine.read(address, 4)
            self.decoded[address] = decode(self.md, self.arm, code, address)
        return self.decoded[address]

    def measure(self, fn):
        """Run fn() (one emulated call) with counting on; returns (fn's result, instructions, cycles)."""
        from crossrun import RETURN

        self.pairs.clear()
        self.prev = -1
        self.active = True
        try:
            result = fn()
        finally:
            self.active = False
        self.pairs[(self.prev, RETURN)] += 1
        succ: Counter = Counter()   # (address, taken) -> executions
        for (a, b), n in self.pairs.items():
            if a >= 0:
                succ[(a, b != a + self.insn(a).size)] += n
        cycles = instructions = 0
        self.by_pc = Counter()
        # price each instruction given its predecessor, then its own branch outcome
        preds: dict[int, Counter] = {}
        for (a, b), n in self.pairs.items():
            if b == RETURN:
                continue
            preds.setdefault(b, Counter())[a] += n
        for b, pc in preds.items():
            ib = self.insn(b)
            n_taken = succ.get((b, True), 0)
            n_total = sum(pc.values())
            instructions += n_total
            # the branch outcome is independent of the predecessor: split the counts
            here = 0
            for a, n in pc.items():
                ia = self.insn(a) if a >= 0 else None
                here += n * self.model(ia, ib, False)
            if n_taken:
                here += n_taken * (self.model(None, ib, True) - self.model(None, ib, False))
            self.by_pc[b] += here
            cycles += here
        return result, instructions, cycles


# ---- rv32 (Hazard3) ----

_RV_LOADS = {"lb", "lh", "lw", "lbu", "lhu", "lwsp"}
_RV_STORES = {"sb", "sh", "sw", "swsp"}
_RV_JUMPS = {"j", "jal", "jr", "jalr", "ret", "call", "tail"}
_RV_MULDIV = {"div": 19, "divu": 19, "rem": 19, "remu": 19}
# compressed forms whose first register is read as well as written (c.add rd, rs2: rd += rs2)
_RV_C_RMW = {"add", "addi", "slli", "srli", "srai", "andi", "sub", "xor", "or", "and", "addi16sp"}


@dataclass
class RvInsn:
    address: int
    size: int
    kind: str              # "load", "store", "branch", "jump", "div", "alu"
    writes: str | None     # destination register
    reads: frozenset       # registers whose value is needed in the execute stage


def _rv_decode(md, riscv, code: bytes, address: int) -> RvInsn:
    insn = next(md.disasm(code, address, 1), None)
    if insn is None:
        raise ValueError(f"cannot decode {code.hex()} at {address:#x}")
    compressed = insn.mnemonic.startswith("c.")
    base = insn.mnemonic[2:] if compressed else insn.mnemonic
    regs = []
    for o in insn.operands:
        if o.type == riscv.RISCV_OP_REG:
            regs.append(insn.reg_name(o.reg))
        elif o.type == riscv.RISCV_OP_MEM:
            regs.append(insn.reg_name(o.mem.base))
    if base in _RV_STORES:
        # store data is consumed late (stage 3): only the address register can stall
        return RvInsn(address, insn.size, "store", None, frozenset(regs[1:]))
    if base.startswith("b"):
        return RvInsn(address, insn.size, "branch", None, frozenset(regs))
    if base in _RV_JUMPS:
        writes = "ra" if base in ("jal", "jalr", "call") and (compressed or not regs or regs[0] == "ra") else None
        return RvInsn(address, insn.size, "jump", writes, frozenset(regs[1:] if base == "jalr" else regs))
    kind = "load" if base in _RV_LOADS else "div" if base in _RV_MULDIV else "alu"
    writes = regs[0] if regs else None
    reads = regs[1:] + ([regs[0]] if compressed and base in _RV_C_RMW else [])
    return RvInsn(address, insn.size, kind, writes, frozenset(r for r in reads if r != "zero"))


class RiscvCycleCounter:
    """Like CycleCounter, for rv32 code: prices every executed instruction as it runs."""

    def __init__(self, machine):
        import capstone
        import unicorn
        from capstone import riscv

        self.machine = machine
        self.md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV32 | capstone.CS_MODE_RISCVC)
        self.md.detail = True
        self.riscv = riscv
        self.decoded: dict[int, RvInsn] = {}
        self.active = False
        self._reset()
        text_end = max(a + len(b) for a, b in machine.elf.sections.values() if a < 0x2000_0000)
        machine.uc.hook_add(unicorn.UC_HOOK_CODE, self._on_code, begin=0x400, end=text_end)

    def _reset(self):
        self.by_pc: Counter = Counter()   # cycles per instruction address
        self.prev: RvInsn | None = None
        self.predicted: int | None = None   # the branch predictor's one entry: last taken backward branch
        self.cycles = 0
        self.instructions = 0

    def insn(self, address: int) -> RvInsn:
        found = self.decoded.get(address)
        if found is None:
            found = self.decoded[address] = _rv_decode(self.md, self.riscv, self.machine.read(address, 4), address)
        return found

    def _on_code(self, uc, address, size, user):
        if not self.active:
            return
        cur = self.insn(address)
        self.instructions += 1
        cycles = 19 if cur.kind == "div" else 2 if cur.kind == "jump" else 1
        prev = self.prev
        if prev is not None:
            taken = address != prev.address + prev.size
            if prev.kind == "branch":
                guessed_taken = self.predicted == prev.address
                if guessed_taken != taken:
                    cycles += 1                                   # mispredicted: one penalty cycle
                if taken and address < prev.address:
                    self.predicted = prev.address
                elif guessed_taken and not taken:
                    self.predicted = None
            if taken and cur.size == 4 and address % 4:
                cycles += 1                                       # target fetch needs two bus cycles
            if prev.kind == "load" and prev.writes in cur.reads:
                cycles += 1                                       # load-use bubble
        self.cycles += cycles
        self.by_pc[address] += cycles
        self.prev = cur

    def measure(self, fn):
        """Run fn() (one emulated call) with counting on; returns (fn's result, instructions, cycles)."""
        self._reset()
        self.active = True
        try:
            result = fn()
        finally:
            self.active = False
        # the final return (jalr to the stop address) is priced like any jump
        return result, self.instructions, self.cycles


def counter_for(machine):
    """The cycle counter for the machine's CPU."""
    return RiscvCycleCounter(machine) if machine.cpu.arch == "riscv" else CycleCounter(machine)
