"""native/tools/viper_bench.py: its checks, its fit and its pricing of viper's MAC loop, without qemu."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import viper_bench  # noqa: E402


def test_firmware_entries_are_checked(tmp_path):
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF")
    assert viper_bench.firmware_from_env(f"mps2-an385={elf}") == {"mps2-an385": elf}
    with pytest.raises(viper_bench.BenchError, match="'virt=.*expected MACHINE=PATH"):
        viper_bench.firmware_from_env(f"virt={elf}")
    with pytest.raises(viper_bench.BenchError, match="no file"):
        viper_bench.firmware_from_env(f"microbit={tmp_path / 'none.elf'}")


def test_without_firmware_the_row_is_skipped_with_the_reason(monkeypatch, capsys):
    monkeypatch.delenv("TINYML_QEMU_FIRMWARE", raising=False)
    if shutil.which("qemu-system-arm"):
        assert "TINYML_QEMU_FIRMWARE is not set" in viper_bench.skip_reason()
    assert viper_bench.main() == 0
    assert "viper row skipped" in capsys.readouterr().out


def test_the_instruction_clock_is_checked_on_a_loop_of_known_length():
    # 2 instructions per iteration: 5,000,000 more iterations are 10,000,000 more instructions
    assert viper_bench.check_calibration(((100_000, 5_100_000), (201, 10_201)), 1000.0) == 1000.0
    assert viper_bench.check_calibration(((100_000, 5_100_000), (128, 6_528)), 1562.5) == 1562.5
    with pytest.raises(viper_bench.BenchError, match="does not count as assumed"):
        viper_bench.check_calibration(((100_000, 5_100_000), (128, 6_528)), 1000.0)


def test_the_fit_recovers_known_costs():
    models = {n: viper_bench.tmdl_of(layers) for n, layers in viper_bench.synthetic_models().items()}
    # counts made by hand from known costs: 5000 per invoke, 3000 per layer, 400 per output, 54 per MAC
    counts = {}
    for name, m in models.items():
        layers = len(m.layers)
        outputs = sum(l.weights.shape[0] for l in m.layers)
        counts[name] = 5000 + 3000 * layers + 400 * outputs + 54 * sum(l.weights.size for l in m.layers)
    fit = viper_bench.fit(models, counts)
    assert np.allclose([fit[k] for k in viper_bench.FEATURES], [5000, 3000, 400, 54], atol=0.01)


ARMV6M_LOOP = """
    .syntax unified
    .thumb
head:
    ldrb r0, [r0, r1]
    muls r1, r2, r1
    adds r1, r1, r2
    cmp r1, r2
    blt 1f
    movs r0, #0
    b 2f
1:  movs r0, #1
2:  cmp r0, #0
    bne head
"""


def _assemble(tmp_path, source, cpu):
    if not shutil.which("arm-none-eabi-as"):
        pytest.skip("arm-none-eabi-as not found (`make system-packages`)")
    (tmp_path / "loop.s").write_text(source)
    subprocess.run(["arm-none-eabi-as", f"-mcpu={cpu}", "-o", str(tmp_path / "loop.o"), str(tmp_path / "loop.s")],
                   check=True)
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".text", str(tmp_path / "loop.o"),
                    str(tmp_path / "loop.bin")], check=True)
    return (tmp_path / "loop.bin").read_bytes()


def test_the_armv6m_loop_follows_the_path_that_goes_round(tmp_path):
    """viper's armv6m idiom for `i < n`: blt over `movs r0, #0; b`, then `movs r0, #1; cmp r0, #0; bne`.
    Going round, blt is taken: 8 of the 10 instructions run. Cortex-M0+ (cycles.py, from the TRM):
    ldrb 2, muls 1, adds 1, cmp 1, blt taken 2, movs 1, cmp 1, bne taken 2 = 11 cycles."""
    code = _assemble(tmp_path, ARMV6M_LOOP, "cortex-m0")
    loop = viper_bench.mac_loop(code + b"\x00\xbf" * 4, 0x1000, "armv6m")
    assert [i.mnemonic for i, _ in loop] == ["ldrb", "muls", "adds", "cmp", "blt", "movs", "cmp", "bne"]
    assert [t for _, t in loop] == [False] * 4 + [True, False, False, True]
    assert viper_bench.loop_cycles(loop, "cortex-m0plus") == 11


def test_the_armv7m_loop_with_an_it_block_is_one_path(tmp_path):
    """The armv7m emitter's `ite lt; movs r0, #1; movs r0, #0`: both moves execute (one as a no-op)."""
    source = ARMV6M_LOOP.replace("    blt 1f\n    movs r0, #0\n    b 2f\n1:  movs r0, #1\n2:",
                                 "    ite lt\n    movlt r0, #1\n    movge r0, #0\n")
    code = _assemble(tmp_path, source, "cortex-m3")
    loop = viper_bench.mac_loop(code + b"\x00\xbf" * 4, 0x1000, "armv7m")
    assert [i.mnemonic for i, _ in loop] == ["ldrb", "muls", "adds", "cmp", "ite", "movs", "movs", "cmp", "bne"]
    # Cortex-M4 (cycles.py): ldrb 2, then 1 each for muls adds cmp ite and the two moves and cmp, bne taken 1 + P = 3
    assert viper_bench.loop_cycles(loop, "cortex-m4") == 2 + 7 + 3


def test_the_mac_loop_is_the_innermost_loop_with_the_most_multiplies(tmp_path):
    """mac() now has, inside its loop over outputs, a loop of 4 MACs per iteration (the file's
    blocks of 4 inputs) and a one-MAC loop for the rest: the 4-MAC loop is the one per MAC,
    not the outer loop (which holds every multiply) nor the shorter one-MAC tail."""
    source = """\
    .syntax unified
    .thumb
outer:
    movs r1, #0
quad:
    ldrb r3, [r4]
    muls r3, r5
    ldrb r3, [r4, #1]
    muls r3, r5
    ldrb r3, [r4, #2]
    muls r3, r5
    ldrb r3, [r4, #3]
    muls r3, r5
    adds r1, #4
    cmp r1, r2
    bne quad
tail:
    ldrb r3, [r4]
    muls r3, r5
    adds r1, #1
    cmp r1, r6
    bne tail
    subs r7, #1
    bne outer
"""
    code = _assemble(tmp_path, source, "cortex-m0")
    loop = viper_bench.mac_loop(code + b"\x00\xbf" * 4, 0x1000, "armv6m")
    assert [i.mnemonic for i, _ in loop] == ["ldrb", "muls"] * 4 + ["adds", "cmp", "bne"]
    assert viper_bench.macs_per_iteration(loop) == 4


def test_a_loop_too_long_for_bne_goes_round_by_beq_over_a_branch(tmp_path):
    """When the loop head is out of a conditional branch's reach the armv6m emitter ends the loop
    with `cmp r0, #0; beq out; b head`: the path that set r0 to 0 leaves, the other goes round."""
    source = ARMV6M_LOOP.replace("2:  cmp r0, #0\n    bne head\n", "2:  cmp r0, #0\n    beq 3f\n    b head\n3:\n")
    assert source != ARMV6M_LOOP
    code = _assemble(tmp_path, source, "cortex-m0")
    loop = viper_bench.mac_loop(code + b"\x00\xbf" * 4, 0x1000, "armv6m")
    assert [i.mnemonic for i, _ in loop] == ["ldrb", "muls", "adds", "cmp", "blt", "movs", "cmp", "beq", "b"]
    assert [t for _, t in loop][-3:] == [False, False, True]
