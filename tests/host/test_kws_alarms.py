"""Counting keyword detections in a long stream (host/tinyml_host/kws_alarms.py), the way the
board's keyword app makes them: TFLM's micro_speech hears its own clips placed at known times in
quiet noise, at those times and nowhere else, and the stream's inferences line up with the
front end run offline on the same samples."""

from pathlib import Path

import numpy as np
import pytest

from tinyml_host import features, kws_alarms, reference

MICRO_SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "models" / "micro_speech"
needs_micro_speech = pytest.mark.skipif(not (MICRO_SPEECH / "micro_speech_quantized.tflite").exists(),
                                        reason=f"TFLM's micro_speech and its clips are absent ({MICRO_SPEECH})")


@pytest.fixture(scope="module")
def model():
    return kws_alarms.micro_speech_model()


def _clip(word):
    return features.read_wav(MICRO_SPEECH / f"{word}_1000ms.wav")[1]


@needs_micro_speech
def test_keywords_placed_in_noise_are_detected_once_each_at_their_time(model):
    rng = np.random.default_rng(5)
    audio = np.round(rng.normal(0, 30, 16000 * 16)).astype(np.int16)
    placed = [(2.0, "yes"), (6.0, "no"), (10.0, "yes"), (13.0, "no")]
    for at, word in placed:
        start = int(at * 16000)
        audio[start:start + 16000] = _clip(word)
    # micro_speech's averaged scores for TFLM's own clips peak just above the app's 200 (201-209),
    # so a clip in other noise can miss by a point: the counting is checked at 180
    found = kws_alarms.detections(model, audio, model.labels, threshold=180)
    assert [d.label for d in found] == [w for _, w in placed], found
    for d, (at, _) in zip(found, placed):
        # heard while the word is in the model's one-second window, before the next word
        assert at < d.at_s < at + 2.0, (d, at)
        assert 180 <= d.score <= 255
    # the noise alone: nothing, at the same threshold
    quiet = np.round(rng.normal(0, 30, 16000 * 8)).astype(np.int16)
    assert kws_alarms.detections(model, quiet, model.labels, threshold=180) == []


@needs_micro_speech
def test_the_first_inference_sees_the_streams_first_second(model):
    rng = np.random.default_rng(6)
    audio = np.concatenate([np.round(rng.normal(0, 200, 4000)), _clip("yes")]).astype(np.int16)
    scores, times_ms = kws_alarms.stream_scores(model, audio, every=2)
    # offline: the first 49 frames of the whole clip, micro_speech's int8 formula, the reference
    frames = features.microfrontend(audio[:16000], features.MICRO_SPEECH)[:49]
    want = reference.run(model, features.micro_speech_int8(frames).reshape(-1))
    assert np.array_equal(scores[0], want)
    # 49 frames of a 30 ms window stepped by 20 ms end at 990 ms; then one inference per 40 ms
    assert times_ms[0] == 990 and np.allclose(np.diff(times_ms), 40)
    assert len(scores) == (len(features.microfrontend(audio, features.MICRO_SPEECH)) - 49) // 2 + 1


@needs_micro_speech
def test_noise_stream_holds_no_speech_and_a_model_without_front_end_is_refused(model):
    audio, sources = kws_alarms.non_keyword_stream(20, seed=2, speech=False)
    assert len(audio) == 20 * 16000 and audio.dtype == np.int16 and "speech_clips_placed" in sources
    assert sources["speech_clips_placed"] == 0 and np.abs(audio).max() > 0
    model.frontend, saved = None, model.frontend
    try:
        with pytest.raises(Exception, match="records no front end"):
            kws_alarms.stream_scores(model, audio)
    finally:
        model.frontend = saved
