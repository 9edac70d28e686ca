"""`tinyml evaluate MODEL DATA`: score a trained model on a dataset folder of its kind through
the int8 model's integer arithmetic (the bit-exact reference of what the board computes).

MODEL is a .tflite (converted as `tinyml export` would) or a .tmdl, with its .classes beside it
(or, in a .tmdl, its labels record) and, for keyword spotting, its .frontend.json
(kws.frontend_params) or a .tmdl front end record (`tinyml export --frontend micro`). DATA is a
folder of WAV clips (audio.py) for a keyword model, or of IMU takes (dataset.py) for a gesture model.

With a board (evaluate_on_board, `--port`), a keyword model's whole path runs there: the board's
front end computes each clip's features from its 16 kHz samples and its model backend scores them;
the host only copies the model and the samples and collects the int8 scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import TinymlError


def read_model(path):
    from . import export
    from .inputs import read_tmdl

    path = Path(path)
    if path.suffix == ".tmdl":
        return read_tmdl(path)
    if path.suffix == ".tflite":
        try:
            return export.convert(path.read_bytes())
        except TinymlError as e:
            raise TinymlError(f"{path}: {e}") from e
    raise TinymlError(f"{path}: give a .tflite or .tmdl model")


def read_classes(model_path, model=None) -> list[str]:
    """The .classes file beside the model; without one, the labels a .tmdl records."""
    path = Path(model_path).with_suffix(".classes")
    if not path.exists():
        if model is not None and getattr(model, "labels", None):
            return list(model.labels)
        raise TinymlError(f"{path} is missing: `tinyml evaluate` names classes from the .classes file "
                          "`tinyml train` writes beside the model (or a .tmdl's labels, `tinyml export --labels`)")
    classes = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(classes) < 2:
        raise TinymlError(f"{path}: {len(classes)} class names; a classifier has at least 2")
    return classes


def frontend_path(model_path) -> Path:
    return Path(f"{Path(model_path).with_suffix('')}.frontend.json")


class AudioFrontend:
    """How a keyword model's input is made from a clip: `samples(clip)` are the int16 samples the
    front end reads (the same on the host and on the board), `inputs(samples)` the model's int8
    input from them through the host's reference, `record` the front end record the board runs."""

    def __init__(self, model, model_path, data_dir):
        from . import features, kws

        fpath = frontend_path(model_path)
        if fpath.exists():  # `tinyml train kws`: the whole (fitted) clip, converted by the model's scale
            config, params = kws.read_frontend_params(fpath)
            if params["frames"] * params["channels"] != model.input_size:
                raise TinymlError(f"{fpath}: {params['frames']} frames x {params['channels']} channels, but the "
                                  f"model takes {model.input_size} inputs")
            self.config, self.params, self.where = config, params, fpath
            self.clip_samples, self.fit = int(params["clip_samples"]), True
            self.frames, self.channels = int(params["frames"]), int(params["channels"])
            # a model trained on heard clips: each clip after the same noise, its last frames scored
            self.listen = int(params.get("listen_samples", 0))
            self._record = None
            return
        if model.frontend is None:
            raise TinymlError(f"{data_dir} holds audio clips, but {model_path} records no front end and has no "
                              f"{fpath.name} beside it: not a keyword model (export one with `tinyml export "
                              "--frontend micro`, or train it with `tinyml train kws`)")
        _, self.thresholds, config = features.split_record(model.frontend)
        channels = config.num_channels
        if model.input_size % channels:
            raise TinymlError(f"{model_path}: its front end makes frames of {channels} channels, but the model "
                              f"takes {model.input_size} inputs, not a whole number of frames")
        p = features.plan(config)
        self.config, self.params, self.where = config, None, model_path
        self.frames, self.channels = model.input_size // channels, channels
        # the clip's first window of frames: the samples they read, zeros after a shorter clip
        self.clip_samples, self.fit = p.window_samples + (self.frames - 1) * p.step_samples, False
        self.listen = 0
        self._record = bytes(model.frontend)

    def samples(self, clip: np.ndarray) -> np.ndarray:
        from . import kws

        if self.fit and self.listen:
            return kws.heard_as_evaluated(kws.fit_clip(clip, self.clip_samples), self.listen,
                                          float(self.params.get("listen_dbfs", kws.EVALUATE_FLOOR_DBFS)))
        if self.fit:
            return kws.fit_clip(clip, self.clip_samples)
        x = np.asarray(clip, np.int16)[:self.clip_samples]
        return np.pad(x, (0, self.clip_samples - len(x)))

    def inputs(self, samples: list[np.ndarray]) -> np.ndarray:
        from . import features, kws

        f = np.stack([features.microfrontend(s, self.config)[self.skip:self.skip + self.frames] for s in samples])
        if self.params is not None:
            return kws.int8_input(f, self.params)
        return features.apply_thresholds(f, self.thresholds).reshape(len(f), -1)

    @property
    def skip(self) -> int:
        """Frames before the clip's own: those of the listening."""
        from . import features

        return self.listen // features.plan(self.config).step_samples

    @property
    def record(self) -> bytes:
        """The front end record the board runs: the model's, or one made from its .frontend.json
        (the same conversion to int8, as thresholds)."""
        from . import features

        if self._record is None:
            p = self.params
            if (self.config.left_context, self.config.right_context, self.config.frame_stride) != (0, 0, 1):
                raise TinymlError(f"{self.where}: the board's front end does not stack frames (left_context, "
                                  "right_context, frame_stride): evaluate this model on the host")
            try:
                self._record = features.frontend_record(self.config, lambda v: features.to_int8(
                    v, p["input_scale"], p["input_zero_point"], p["feature_scale"]))
            except (TinymlError, ValueError) as e:
                raise TinymlError(f"{self.where}: the board cannot compute this front end: {e}") from None
        return self._record


def _audio_clips(model, model_path, data_dir, classes):
    """(front end, clips, their class indexes, the samples the front end reads of each)."""
    from . import audio_data, kws

    fe = AudioFrontend(model, model_path, data_dir)
    ds = audio_data.load(data_dir)
    unknown = sorted({c.label for c in ds.clips} - set(classes))
    if unknown and kws.UNKNOWN not in classes:
        raise TinymlError(f"{data_dir}: labels {', '.join(unknown)} are not among the model's classes "
                          f"({', '.join(classes)}) and it has no {kws.UNKNOWN!r} class")
    y = np.array([classes.index(c.label if c.label in classes else kws.UNKNOWN) for c in ds.clips])
    return fe, ds.clips, y, [fe.samples(c.audio) for c in ds.clips]


def _imu_inputs(model, data_dir, classes):
    from . import dataset, gesture, reference

    if model.input_size != gesture.FEATURES:
        raise TinymlError(f"{data_dir} holds IMU takes, but the model takes {model.input_size} inputs, not the "
                          f"gesture model's {gesture.FEATURES}"
                          + (" (a gesture model from before the log features: retrain it with `tinyml train gesture`)"
                             if model.input_size == 30 else ""))
    takes = dataset.load(data_dir)
    bad = [t for t in takes if not t.is_imu or t.meta["rate_hz"] != gesture.RATE_HZ]
    if bad:
        raise TinymlError(f"{bad[0].path}: not an IMU take at {gesture.RATE_HZ} Hz; the gesture model reads those")
    unknown = sorted({t.label for t in takes} - set(classes))
    if unknown:
        raise TinymlError(f"{data_dir}: labels {', '.join(unknown)} are not among the model's classes "
                          f"({', '.join(classes)})")
    x, y = [], []
    for t in takes:
        f = gesture.features(gesture.windows(t.data))
        x.append(f)
        y += [classes.index(t.label)] * len(f)
    x = np.concatenate(x) if x else np.zeros((0, gesture.FEATURES), np.float32)
    if not len(x):
        raise TinymlError(f"{data_dir}: no take is {gesture.WINDOW} samples long, no window to score")
    # the board's gesture app hands predict() floats, quantized as reference.quantize does
    return reference.quantize(x, model.input_scale, model.input_zp), np.array(y)


# On the board, one batch of clips per exec: the model loaded once, each clip's samples read from
# its file in pieces into one buffer, frames into the model's input until its window is full.
BOARD_SCRIPT = """
import gc
from array import array
import tinyml
from tinyml import features
m = tinyml.load('_eval.tmdl'%(backend)s)
config, thresholds = features.split_record(m.frontend_config())
fe = features.Frontend(config%(backend)s)
ch = fe.num_channels
need = len(m.input) // ch
buf = array('h', bytes(2 * 1600))
skip = %(skip)d
for i in %(clips)r:
    fe.reset()
    frames = 0
    with open('_eval%%d.pcm' %% i, 'rb') as f:
        while frames < skip + need:
            n = f.readinto(buf) // 2
            if not n:
                break
            at = 0
            while at < n and frames < skip + need:
                at += fe.push(buf, at, n)
                if fe.ready:
                    if frames >= skip:
                        features.to_int8(fe.frame, thresholds, m.input, (frames - skip) * ch)
                    frames += 1
    if frames < skip + need:
        raise ValueError('clip %%d: %%d of %%d frames' %% (i, frames, skip + need))
    m.invoke()
    print('S', i, ' '.join(str(v) for v in m.output))
    gc.collect()
print('DONE')
"""
BATCH = 8  # clips per exec: a python-backend batch stays well under a minute on the virtual board


def _needs_tinyml(board) -> bool:
    return "YES" not in board.exec("try:\n import tinyml.features\n print('YES')\nexcept ImportError:\n print('NO')\n")


def board_scores(board, model, record: bytes, samples: list[np.ndarray], backend: str | None,
                 progress=lambda s: None, skip: int = 0) -> np.ndarray:
    """int8 outputs [clips, outputs] the board computes from each clip's samples: its front end
    (the record) and its model backend, `backend` for both (None: what the board picks); the
    first `skip` frames (a heard clip's listening, AudioFrontend.skip) are not scored."""
    from . import deploy, tmdl

    if _needs_tinyml(board):
        progress("the board has no tinyml: deploying device/")
        deploy.deploy(board, deploy.DEVICE, [], progress=progress)
    m = tmdl.decode(tmdl.encode(model))  # a copy: the board's file carries the front end it runs
    m.frontend = record
    board.write("_eval.tmdl", tmdl.encode(m))
    scores = {}
    try:
        for start in range(0, len(samples), BATCH):
            batch = list(range(start, min(start + BATCH, len(samples))))
            for i in batch:
                board.write(f"_eval{i}.pcm", samples[i].astype("<i2").tobytes())
            try:
                out = board.exec(BOARD_SCRIPT % {"backend": f", {backend!r}" if backend else "", "clips": batch, "skip": skip},
                                 timeout=600)
            finally:
                board.remove([f"_eval{i}.pcm" for i in batch])
            if "DONE" not in out:
                raise TinymlError(f"the board did not finish scoring clips {batch[0]}..{batch[-1]}:\n{out[-1000:]}")
            for line in out.splitlines():
                if line.startswith("S "):
                    i, *v = line.split()[1:]
                    scores[int(i)] = [int(x) for x in v]
            progress(f"  {len(scores)} of {len(samples)} clips scored on the board")
    finally:
        board.remove(["_eval.tmdl"])
    missing = [i for i in range(len(samples)) if i not in scores]
    if missing:
        raise TinymlError(f"the board printed no scores for {len(missing)} clip(s), the first number {missing[0]}")
    return np.array([scores[i] for i in range(len(samples))], np.int64).reshape(len(samples), model.output_size)


def evaluate(model_path, data_dir, board=None, backend: str | None = None, progress=lambda s: None) -> dict:
    """{"accuracy", "per_class", "confusion", "classes", "kind", "examples"}, and for audio
    "files": [{"path" (relative to data_dir), "label", "predicted", "scores"}]. With `board` (a
    tinyml_host.board.Board), a keyword model's clips are scored there, on `backend`."""
    from . import audio_data, gesture, kws, reference

    model = read_model(model_path)
    classes = read_classes(model_path, model)
    if model.output_size != len(classes):
        raise TinymlError(f"{Path(model_path).with_suffix('.classes')}: {len(classes)} classes, the model has "
                          f"{model.output_size} outputs")
    if not Path(data_dir).is_dir():
        raise TinymlError(f"no dataset folder {data_dir}")
    if backend is not None and board is None:
        raise TinymlError("--backend chooses the board's implementation: give --port too")
    files = None
    if audio_data.is_audio_folder(data_dir):
        kind = "audio"
        fe, clips, y, samples = _audio_clips(model, model_path, data_dir, classes)
        if board is not None:
            scores = board_scores(board, model, fe.record, samples, backend, progress, fe.skip)
        else:
            scores = reference.run(model, fe.inputs(samples)).reshape(len(samples), -1).astype(np.int64)
        files = [{"path": Path(c.path).relative_to(Path(data_dir)).as_posix(), "label": classes[t],
                  "predicted": classes[int(np.argmax(s))], "scores": [int(v) for v in s]}
                 for c, t, s in zip(clips, y, scores)]
    else:
        if board is not None:
            raise TinymlError(f"{data_dir} holds IMU takes: --port runs a keyword model's clips on the board; "
                              "evaluate a gesture model on the host (without --port)")
        kind = "imu"
        x, y = _imu_inputs(model, data_dir, classes)
        scores = reference.run(model, x).reshape(len(x), -1).astype(np.int64)
    result = {"accuracy": gesture.accuracy(scores, y), "per_class": kws.per_class(scores, y, classes),
              "confusion": gesture.confusion(scores, y, len(classes)), "classes": classes, "kind": kind,
              "examples": int(len(y))}
    if files is not None:
        result["files"] = files
    return result


def print_result(r: dict, model_path, data_dir, console=None, where: str = "host reference"):
    from . import term
    from rich.table import Table

    console = console or term.console()
    what = "clips" if r["kind"] == "audio" else "windows"
    # the answer first, on the first line whatever the paths' length: scripts grep it
    term.say(f"accuracy {r['accuracy']:.1%} over {r['examples']} {what} (int8, integer arithmetic, {where}): "
             f"{model_path} on {data_dir}", indent="  ")
    table = Table(title="confusion (rows true, columns predicted)")
    table.add_column("class")
    table.add_column("accuracy", justify="right")
    for c in r["classes"]:
        table.add_column(c[:8], justify="right")
    for c, row in zip(r["classes"], r["confusion"]):
        acc = r["per_class"][c]
        table.add_row(c, "-" if acc is None else f"{acc:.1%}", *(str(n) for n in row))
    console.print(table)
    wrong = [f for f in r.get("files", []) if f["predicted"] != f["label"]]
    for f in wrong[:20]:
        term.say(f"{f['path']}: {f['label']}, predicted {f['predicted']} (scores {' '.join(map(str, f['scores']))})",
                 first="  ", indent="    ")
    if len(wrong) > 20:
        print(f"  ... and {len(wrong) - 20} more clips predicted wrong (--json lists every clip)")
