"""Keyword detections in a long stream of audio, as the board's keyword app makes them, and false
detections per hour on noise and speech that holds no keyword.

The app (device/lib/tinyml/apps/kws.py) pushes each 20 ms hop into the model's front end, keeps
the last `frames` frames, runs the model every EVERY hops once it has them, and hands the int8
scores to its Recognizer. Here the same happens on the host with the bit-exact parts: the front
end (features.Frontend, the op's arithmetic), the record's int8 thresholds, the int8 model
(reference.run) and the app's own Recognizer class, imported from device/ under CPython. Time is
the stream's: an inference's `now` is when its last frame's samples ended.

    python -m tinyml_host.kws_alarms [--model M.tmdl] [--minutes 60] [--seed 1]

With no --model, TFLM's micro_speech (yes, no; ../shared/models/micro_speech) is exported with its
front end. The stream: FSDD's spoken digits (../shared/audio/fsdd, three speakers) and espeak-ng
saying words that are not the model's keywords, with gaps, over background noise (TFLM's
noise clip and synthetic noise at varied levels). Prints the detections and the rate per hour."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import TinymlError

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
MICRO_SPEECH = SHARED / "models" / "micro_speech"
FSDD = SHARED / "audio" / "fsdd" / "recordings"
RATE = 16000
# words espeak-ng says between the digits: none is a keyword of micro_speech (yes, no)
OTHER_WORDS = ("left", "right", "up", "down", "go", "stop", "on", "off", "house", "bird", "tree", "wow",
               "happy", "marvin", "sheila", "seven", "nine", "cat", "dog", "bed")


def device_kws_app():
    """device/lib/tinyml/apps/kws.py under CPython, as a private module (device_ram.import_device):
    its Recognizer and constants are the board's. The modules it imports are stubs except clock's
    two functions, which here are plain arithmetic on the stream's milliseconds (no wrap within
    a run)."""
    from .device_ram import DEVICE_LIB, _stub, import_device

    clock = _stub("tinyml.clock", ticks_diff=lambda a, b: a - b, ticks_add=lambda a, b: a + b)
    stubs = {"tinyml": _stub("tinyml", __path__=[str(DEVICE_LIB / "tinyml")], clock=clock),
             "tinyml.apps": _stub("tinyml.apps", __path__=[str(DEVICE_LIB / "tinyml" / "apps")]),
             "tinyml.clock": clock, "tinyml.features": _stub("tinyml.features"), "tinyml.hal": _stub("tinyml.hal")}
    return import_device(("tinyml.apps.kws",), stubs)[0]


@dataclass
class Detection:
    at_s: float      # when the inference that made it ran, in the stream's time
    label: str
    score: int       # the recognizer's averaged score, 0..255


def stream_scores(model, audio: np.ndarray, every: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(int8 scores per inference [n, classes], each inference's time in ms) for int16 `audio`
    pushed through the model's own front end hop by hop, as apps/kws.py schedules them."""
    from . import features, reference

    if model.frontend is None:
        raise TinymlError("the model records no front end: export it with `tinyml export --frontend micro` "
                          "or train it with `tinyml train kws`")
    app = device_kws_app()
    every = app.EVERY if every is None else every
    _, thresholds, config = features.split_record(model.frontend)
    p = features.plan(config)
    channels = config.num_channels
    frames = model.input_size // channels
    f = features.apply_thresholds(features.Frontend(config).feed(np.asarray(audio, np.int16)), thresholds)
    # frame k (0-based) is complete when window + k * step samples have arrived; the app runs the
    # model after frame `seen - 1` for seen = frames, frames + every, ...
    seen = np.arange(frames, len(f) + 1, every)
    if not len(seen):
        return np.zeros((0, model.output_size), np.int8), np.zeros(0)
    scores = np.concatenate([reference.run(model, np.stack([f[s - frames:s].reshape(-1) for s in chunk]))
                             for chunk in np.array_split(seen, max(1, len(seen) // 512))])
    times_ms = (p.window_samples + (seen - 1) * p.step_samples) * 1000.0 / config.sample_rate
    return scores.reshape(len(seen), -1), times_ms


def detections(model, audio: np.ndarray, names: list[str], every: int | None = None,
               threshold: int | None = None) -> list[Detection]:
    """What the keyword app would report on `audio`: its Recognizer fed every inference (with
    the app's THRESHOLD, or `threshold` in its place)."""
    app = device_kws_app()
    every = app.EVERY if every is None else every
    if threshold is not None:
        app.THRESHOLD = threshold   # the private copy's, not the board's
    scores, times_ms = stream_scores(model, audio, every)
    hop_ms = features_hop_ms(model)
    r = app.Recognizer(model.output_size, every * hop_ms, names)
    found = []
    for row, now in zip(scores, times_ms):
        k = r.update([int(v) for v in row], int(now))
        if k >= 0:
            found.append(Detection(float(now) / 1000.0, names[k], int(r.score)))
    return found


def features_hop_ms(model) -> int:
    from . import features

    return features.split_record(model.frontend)[2].window_step


def _fsdd_clips() -> list[np.ndarray]:
    from . import audio_data

    return [audio_data.read_clip(p)[1] for p in sorted(FSDD.glob("*.wav"))]


def _espeak_clips(seed: int, speakers: int) -> list[np.ndarray]:
    """Each of `speakers` espeak-ng voices saying two of OTHER_WORDS, at 16 kHz."""
    from . import audio_data, speech_synth

    rng = np.random.default_rng(seed)
    clips = []
    for speaker in speech_synth.speakers(speakers, seed):
        for word in rng.choice(OTHER_WORDS, 2, replace=False):
            rate, samples = speech_synth.speak(str(word), *speaker)
            clips.append(audio_data.resample(samples, rate))
    return clips


def non_keyword_stream(seconds: float, seed: int = 1, speech: bool = True) -> tuple[np.ndarray, dict]:
    """`seconds` of int16 audio at 16 kHz with speech that is no keyword of micro_speech (FSDD's
    digits where ../shared has them, espeak-ng's other words where espeak-ng is installed) with
    gaps of 0.2 to 2 s, over background noise whose level changes every few seconds; and what it
    holds. speech=False: the noise alone. Raises TinymlError when neither source of speech is there."""
    rng = np.random.default_rng(seed)
    clips_of = speech
    speech, sources = [], {}
    if not clips_of:
        pass
    elif FSDD.exists():
        clips = _fsdd_clips()
        speech += clips
        sources["fsdd_clips"] = len(clips)
    if clips_of:
        try:
            clips = _espeak_clips(seed, 40)
            speech += clips
            sources["espeak_clips"] = len(clips)
        except TinymlError as e:
            sources["espeak"] = str(e)
    if clips_of and not speech:
        raise TinymlError(f"no non-keyword speech: neither {FSDD} nor espeak-ng is here")
    n = int(seconds * RATE)
    out = np.zeros(n, np.float64)
    # background: TFLM's noise recording (looped) where present, else Gaussian noise, at a level
    # that changes every 2-8 s between near silence and a loud room
    bed = _noise_bed(n, rng)
    at = 0
    while at < n:
        length = int(rng.uniform(2, 8) * RATE)
        out[at:at + length] += bed[at:at + length] * 10 ** rng.uniform(-2.5, 0)
        at += length
    at, placed = int(rng.uniform(0.2, 1) * RATE), 0
    while speech and at < n:
        clip = speech[rng.integers(len(speech))].astype(np.float64)
        clip = clip / max(1.0, np.abs(clip).max()) * rng.uniform(3000, 20000)
        end = min(n, at + len(clip))
        out[at:end] += clip[:end - at]
        placed += 1
        at = end + int(rng.uniform(0.2, 2) * RATE)
    sources["speech_clips_placed"] = placed
    return np.clip(np.round(out), -32768, 32767).astype(np.int16), sources


def _noise_bed(n: int, rng) -> np.ndarray:
    from . import features

    path = MICRO_SPEECH / "noise_1000ms.wav"
    if path.exists():
        noise = features.read_wav(path)[1].astype(np.float64)
        noise = noise - noise.mean()
        bed = np.resize(noise, n)
        return bed / max(1.0, np.abs(noise).max()) * 6000
    return rng.normal(0, 2000, n)


def micro_speech_model():
    """TFLM's micro_speech with its front end and labels, exported as `tinyml export
    --frontend micro --labels silence,unknown,yes,no` does."""
    from . import export, features

    path = MICRO_SPEECH / "micro_speech_quantized.tflite"
    if not path.exists():
        raise TinymlError(f"no micro_speech model at {path} (../shared/models)")
    model = export.convert(path.read_bytes())
    model.frontend = features.frontend_record(features.MICRO_SPEECH, features.micro_speech_int8)
    model.labels = ["silence", "unknown", "yes", "no"]
    return model


def main(argv=None) -> int:
    from . import tmdl

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a keyword .tmdl with its front end and labels (default: micro_speech)")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--noise-only", action="store_true", help="the background noise without the speech")
    ap.add_argument("--threshold", type=int, help="the recognizer's threshold (default: the app's, 200)")
    args = ap.parse_args(argv)
    model = tmdl.read(args.model) if args.model else micro_speech_model()
    if not model.labels and args.model:   # `tinyml train kws` writes them beside it, as the app reads them
        classes = Path(args.model).with_suffix(".classes")
        model.labels = classes.read_text().split() if classes.exists() else []
    if len(model.labels) != model.output_size:
        raise TinymlError(f"{args.model}: no labels for its {model.output_size} outputs, in the model "
                          "(tinyml export --labels) or in a .classes file beside it")
    audio, sources = non_keyword_stream(args.minutes * 60, args.seed, speech=not args.noise_only)
    found = detections(model, audio, list(model.labels), threshold=args.threshold)
    hours = len(audio) / RATE / 3600
    for d in found:
        print(f"{d.at_s:8.2f} s  {d.label} (score {d.score})")
    what = "noise" if args.noise_only else "noise and non-keyword speech"
    print(f"{len(found)} false detections in {args.minutes:g} min of {what} ({sources}): "
          f"{len(found) / hours:.1f} per hour")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TinymlError as e:
        sys.exit(f"kws_alarms: error: {e}")
