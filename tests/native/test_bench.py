"""`make bench` runs the rows whose toolchain is here and names the ones it skips."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import bench  # noqa: E402
import crossrun  # noqa: E402


def _without(monkeypatch, *commands):
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name in commands else real(name, *a, **k))


def test_a_missing_cross_compiler_skips_only_its_rows(monkeypatch):
    _without(monkeypatch, "riscv64-unknown-elf-gcc")
    cpus, skipped = bench.available_cpus()
    assert "rv32imac" not in cpus
    assert [what for what, _ in skipped] == ["rv32imac"]
    assert "riscv64-unknown-elf-gcc not found" in skipped[0][1] and "gcc-riscv64-unknown-elf" in skipped[0][1]
    if shutil.which("arm-none-eabi-gcc"):
        assert {"cortex-m4", "cortex-m0plus", "cortex-m33"} <= set(cpus)


def test_bench_with_no_toolchain_names_every_skipped_row(monkeypatch, tmp_path, capsys):
    gccs = {cpu.gcc for cpu in crossrun.CPUS.values()}
    _without(monkeypatch, *gccs, "xtensa-lx106-elf-gcc", "qemu-system-xtensa", "qemu-system-arm")
    assert bench.main(["--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for cpu in crossrun.CPUS:
        assert f"skipped {cpu}" in printed
    assert "skipped xtensa-lx106" in printed
    assert "skipped viper (qemu port)" in printed and "qemu-system-arm not found" in printed
    assert not (tmp_path / "kernels.json").exists()  # nothing measured, nothing written as if it were


def test_bench_layer_is_a_valid_layer_the_reference_runs():
    from tinyml_host.reference import fully_connected

    layer, x = bench.bench_layer(16, 8)
    y = fully_connected(x.reshape(1, -1), layer, "tflm")
    assert y.shape == (1, 8) and y.dtype.kind == "i"
