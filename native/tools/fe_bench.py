"""The audio front end's cycles per 20 ms hop on each emulated core, written where `tinyml
estimate` reads them (host/tinyml_host/data/frontend_costs.json) for the keyword app's CPU share.

    python native/tools/fe_bench.py [--out PATH] [cortex-m4 ...]

native/core/features.c is cross-compiled per core (crossrun.py), fed micro_speech's settings
(30 ms window, 20 ms hop, 40 channels, noise reduction, PCAN and log on) one hop at a time, and
each tml_fe_push that completes a frame is priced by native/tools/cycles.py's model. The clip is
TFLM's yes_1000ms.wav from ../shared when it is there (speech, as the board hears it), else a
second of loud noise; the file says which. Run it after any change to features.c and commit the
JSON with the change."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parents[1]
sys.path[:0] = [str(TOOLS), str(ROOT / "tests" / "native"), str(ROOT / "host")]

import crossrun  # noqa: E402
from external_frontend import default_audio  # noqa: E402  (TFLM's yes clip, else loud noise)
from test_features_emulated import EXPORTS, hop_cycles  # noqa: E402

OUT = ROOT / "host" / "tinyml_host" / "data" / "frontend_costs.json"


def measure(cpus, build_dir: Path) -> tuple[str, dict]:
    clip, audio = default_audio()
    cores = {}
    for cpu in cpus:
        machine = crossrun.Machine(crossrun.build(cpu, build_dir / cpu, exports=EXPORTS), cpu)
        per_hop = hop_cycles(machine, audio)
        cores[cpu] = {"median": int(np.median(per_hop)), "max": int(max(per_hop)), "hops": len(per_hop)}
        print(f"{cpu}: median {cores[cpu]['median']:,} cycles per hop, max {cores[cpu]['max']:,} "
              f"({len(per_hop)} hops)")
    return clip, cores


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cpus", nargs="*", default=list(crossrun.CPUS), help="cores (default: all)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        for cpu in args.cpus:
            (Path(d) / cpu).mkdir()
        clip, cores = measure(args.cpus, Path(d))
    from tinyml_host import features as F

    config = F.MICRO_SPEECH
    result = {
        "what": "tml_fe_push cycles per hop that completes a frame (window, FFT, filterbank, noise "
                "reduction, PCAN, log), native/tools/cycles.py's model, -O2",
        "settings": "micro_speech",
        "config": asdict(config),
        "clip": clip,
        "measured_by": "python native/tools/fe_bench.py",
        "cores": cores,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
