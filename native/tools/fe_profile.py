"""Where the front end's cycles go: tml_fe_push on micro_speech's settings, one 20 ms hop after
another, each executed instruction priced by native/tools/cycles.py and charged to the function
it came from (the innermost one, inlined or not: addr2line -i on the -g build).

    python native/tools/fe_profile.py [cortex-m4 ...] [--lines]

Prints, per core, the median cycles per hop and the share of each function (and with --lines,
of each source line) summed over all hops."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parents[1]
sys.path[:0] = [str(TOOLS), str(ROOT / "tests" / "native"), str(ROOT / "host")]

import crossrun  # noqa: E402
import cycles  # noqa: E402


def where(elf: Path, cpu: str, addresses) -> dict[int, tuple[str, str]]:
    """address -> (innermost function, file:line) from the ELF's debug information."""
    tool = crossrun.gcc(cpu).replace("-gcc", "-addr2line")
    addresses = sorted(addresses)
    out = subprocess.run([tool, "-f", "-i", "-e", str(elf), *map(hex, addresses)], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    # with -i each address prints one or more (function, line) pairs: match them by re-running
    # per address when the counts disagree (rare: only for inlined chains)
    result = {}
    for a in addresses:
        lines = subprocess.run([tool, "-f", "-i", "-e", str(elf), hex(a)], capture_output=True, text=True,
                               check=True).stdout.splitlines() if len(out) != 2 * len(addresses) else None
        if lines is None:
            k = addresses.index(a)
            lines = out[2 * k:2 * k + 2]
        result[a] = (lines[0], lines[1].rsplit("/", 1)[-1].split(" ")[0])
    return result


def profile(cpu: str, audio: np.ndarray, out_dir: Path, show_lines: bool):
    from test_features_emulated import EXPORTS, EmulatedFrontend
    from tinyml_host import features as F

    elf = crossrun.build(cpu, out_dir, exports=EXPORTS)
    m = crossrun.Machine(elf, cpu)
    plan = F.plan(F.MICRO_SPEECH)
    fe = EmulatedFrontend(m, plan)
    counter = cycles.counter_for(m)
    fe.push(audio[:plan.window_samples - plan.step_samples])
    at, per_hop, by_pc = plan.window_samples - plan.step_samples, [], Counter()
    while at + plan.step_samples <= len(audio):
        (status, used, _), _, n = counter.measure(lambda: fe.push(audio[at:at + plan.step_samples]))
        assert status == 1
        per_hop.append(n)
        by_pc.update(counter.by_pc)
        at += used
    names = where(elf, cpu, by_pc)
    total = sum(by_pc.values())
    by_fn, by_line = Counter(), Counter()
    for a, c in by_pc.items():
        fn, line = names[a]
        by_fn[fn] += c
        by_line[f"{fn} {line}"] += c
    print(f"{cpu}: median {int(np.median(per_hop))} cycles per hop over {len(per_hop)} hops")
    for fn, c in by_fn.most_common():
        print(f"  {100 * c / total:5.1f} %  {c / len(per_hop):9.0f}  {fn}")
    if show_lines:
        for line, c in by_line.most_common(25):
            print(f"      {100 * c / total:5.1f} %  {line}")


def main(argv):
    import fe_harness as fh

    cpus = [a for a in argv if not a.startswith("--")] or list(crossrun.CPUS)
    cases = fh.audio_cases(2)
    audio = cases.get("yes_1000ms", cases["noise_loud"])[:16000]
    with tempfile.TemporaryDirectory() as d:
        for cpu in cpus:
            profile(cpu, audio, Path(d), "--lines" in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
