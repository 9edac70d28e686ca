"""`tinyml features WAV`: the int8 features the board computes for a 16 kHz mono WAV, from its
first sample: with the host's reference (tinyml_host.features), or on a board (--port), through
the front end the model file records (--model) or a named one (--frontend)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import audio, features, tmdl
from .errors import TinymlError

# On the board: the record and the samples as files, every frame printed as hex (allocation is
# not the point here: the keyword app and tests/device/test_features_device.py hold that).
BOARD_SCRIPT = """
from array import array
from tinyml import features
with open('_features.rec', 'rb') as f:
    config, thresholds = features.split_record(f.read())
fe = features.Frontend(config%(backend)s)
with open('_features.pcm', 'rb') as f:
    samples = array('h', f.read())
row = array('b', bytes(fe.num_channels))
at = 0
while at < len(samples):
    at += fe.push(samples, at, len(samples))
    if fe.ready:
        features.to_int8(fe.frame, thresholds, row)
        print('F', bytes(row).hex())
print('DONE', fe.num_channels)
"""


def record_for(frontend: str | None, model: Path | None) -> bytes:
    """The front end record: the model's, or the named front end's."""
    if model is not None:
        m = tmdl.read(model)
        if m.frontend is None:
            raise TinymlError(f"{model} records no front end: export it with `tinyml export --frontend micro` "
                              "or train it with `tinyml train kws`")
        return m.frontend
    if frontend in (None, "micro"):
        return features.frontend_record(features.MICRO_SPEECH, features.micro_speech_int8)
    raise TinymlError(f"unknown front end {frontend!r}; tinyml knows: micro")


def on_host(samples: np.ndarray, record: bytes) -> np.ndarray:
    """int8 frames [n, channels] as the reference computes them."""
    _, thresholds, config = features.split_record(record)
    return features.apply_thresholds(features.microfrontend(samples, config), thresholds)


def on_board(board, samples: np.ndarray, record: bytes, backend: str | None) -> np.ndarray:
    """int8 frames [n, channels] as the board computes them."""
    board.write("_features.rec", record)
    board.write("_features.pcm", samples.astype("<i2").tobytes())
    try:
        out = board.exec(BOARD_SCRIPT % {"backend": f", backend={backend!r}" if backend else ""}, timeout=600)
    finally:
        board.remove(["_features.rec", "_features.pcm"])
    rows = [bytes.fromhex(line[2:].strip()) for line in out.splitlines() if line.startswith("F ")]
    done = [line for line in out.splitlines() if line.startswith("DONE")]
    if not done:
        raise TinymlError(f"the board did not finish computing the features:\n{out[-1000:]}")
    channels = int(done[0].split()[1])
    return np.frombuffer(b"".join(rows), np.int8).reshape(-1, channels)


def plot(frames: np.ndarray, wav: Path, where: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    ax.imshow(frames.T.astype(np.int16), origin="lower", aspect="auto", cmap="magma", vmin=-128, vmax=127)
    ax.set_xlabel("frame (20 ms hop)" if frames.shape[0] else "frame")
    ax.set_ylabel("channel")
    ax.set_title(f"{wav.name}: int8 features ({where})")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def run(args) -> int:
    wav = Path(args.wav)
    samples = audio.read_wav(wav)
    record = record_for(args.frontend, Path(args.model) if args.model else None)
    if args.port:
        from .board import connect

        with connect(args.port, args.board) as board:
            frames = on_board(board, samples, record, args.backend)
        where = f"board {args.port}" + (f", {args.backend}" if args.backend else "")
    else:
        if args.backend:
            raise TinymlError("--backend chooses the board's implementation: give --port too")
        frames = on_host(samples, record)
        where = "host reference"
    if args.json:
        print(json.dumps({"frames": frames.tolist()}))
        return 0
    png = plot(frames, wav, where, Path(args.out) if args.out else Path("out/features") / (wav.stem + ".png"))
    from . import term

    term.say(f"{wav}: {frames.shape[0]} frames of {frames.shape[1]} int8 features ({where}); {png}", indent="  ")
    return 0
