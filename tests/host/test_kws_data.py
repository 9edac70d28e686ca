"""Audio datasets (audio.py) and what keyword training makes of them (kws.py): layouts, speakers,
resampling, the split, silence and unknown, augmentation. No training here (test_kws_train.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml_host import audio_data, cli, features, kws, speech_synth
from tinyml_host.errors import TinymlError

from test_features import FSDD_DIR  # noqa: E402  (tests/host is on sys.path)


def tone(freq: float, rate: int, seconds: float = 0.5, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_any_common_rate_becomes_16k_with_pitch_and_level_kept(rate):
    x = tone(1000.0, rate)
    y = audio_data.resample(x, rate)
    assert len(y) == pytest.approx(len(x) * audio_data.RATE / rate, abs=1)
    assert dominant_hz(y, audio_data.RATE) == pytest.approx(1000.0, abs=2 * audio_data.RATE / len(y))
    middle = y[len(y) // 4: 3 * len(y) // 4].astype(float)  # away from the edges' half-filled filter
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(8000 / np.sqrt(2), rel=0.02)


def test_downsampling_removes_what_16k_cannot_hold():
    """A 10 kHz tone at 44.1 kHz is above 16 kHz's Nyquist: it must not fold back to 6 kHz."""
    y = audio_data.resample(tone(10000.0, 44100), 44100).astype(float)
    assert np.sqrt(np.mean(y[2000:-2000] ** 2)) < 0.01 * 8000


def test_eight_khz_uses_the_front_ends_upsampler():
    x = tone(440.0, 8000)
    assert np.array_equal(audio_data.resample(x, 8000), features.upsample(x, 2))


def _write(path, samples, rate=16000):
    return speech_synth.write_wav(path, samples, rate)


def test_speech_commands_layout_speakers_noise_and_rates(tmp_path):
    _write(tmp_path / "yes" / "a1b2c3d4_nohash_0.wav", tone(300, 44100, 0.4), 44100)
    _write(tmp_path / "yes" / "a1b2c3d4_nohash_1.wav", tone(300, 16000, 0.4))
    _write(tmp_path / "no" / "ffff0000_nohash_0.wav", tone(500, 22050, 0.4), 22050)
    _write(tmp_path / "no" / "my recording.wav", tone(500, 16000, 0.4))
    _write(tmp_path / audio_data.NOISE_FOLDER / "hum.wav", tone(50, 48000, 3.0), 48000)
    _write(tmp_path / "_other_extras" / "x.wav", tone(50, 16000, 0.2))
    ds = audio_data.load(tmp_path)
    assert ds.labels == ["no", "yes"]
    groups = {c.path.name: c.group for c in ds.clips}
    assert groups["a1b2c3d4_nohash_0.wav"] == groups["a1b2c3d4_nohash_1.wav"] == "speaker:a1b2c3d4"
    assert groups["ffff0000_nohash_0.wav"] == "speaker:ffff0000"
    assert groups["my recording.wav"].startswith("recording:")   # no speaker in the name: the file alone
    assert {c.rate for c in ds.clips} == {44100, 16000, 22050}
    assert all(abs(c.seconds - 0.4) < 0.001 for c in ds.clips)
    assert len(ds.noise) == 1 and ds.noise[0].seconds == pytest.approx(3.0, abs=0.001)
    rows = {r["label"]: r for r in audio_data.summary(ds)}
    assert rows["yes"]["clips"] == 2 and rows["yes"]["speakers"] == 1 and rows["no"]["speakers"] == 1


def test_bad_files_are_named(tmp_path):
    (tmp_path / "yes").mkdir()
    (tmp_path / "yes" / "broken.wav").write_bytes(b"RIFF\0\0\0\0WAVEjunk")
    with pytest.raises(TinymlError, match="broken.wav: not a PCM WAV"):
        audio_data.load(tmp_path)
    flat = tmp_path / "flat"
    _write(flat / "hello.wav", tone(300, 16000, 0.1))
    with pytest.raises(TinymlError, match="hello.wav: a WAV directly in .* <label>_<speaker>_<n>.wav"):
        audio_data.load(flat)
    empty = tmp_path / "empty"
    (empty / "x").mkdir(parents=True)
    with pytest.raises(TinymlError, match="holds no WAV clips"):
        audio_data.load(empty)


def _dataset(tmp_path, speakers=6, labels=("yes", "no", "up"), noise=True):
    rng = np.random.default_rng(0)
    for s in range(speakers):
        for i, label in enumerate(labels):
            for take in range(2):
                x = tone(200 + 150 * i + 10 * s, 16000, rng.uniform(0.3, 0.8))
                _write(tmp_path / label / f"spk{s}_nohash_{take}.wav", x)
    if noise:
        _write(tmp_path / audio_data.NOISE_FOLDER / "n.wav", kws.synthetic_noise(10.0, 1))
    return audio_data.load(tmp_path)


def test_split_holds_out_whole_speakers_with_silence_and_unknown(tmp_path):
    ds = _dataset(tmp_path)
    sp = kws.split(ds, words=["yes", "no"], seed=1)
    assert sp.classes == ["no", "yes", kws.UNKNOWN, kws.SILENCE]
    train_speakers = {e.group for e in sp.train if e.group.startswith("speaker:")}
    test_speakers = {e.group for e in sp.test if e.group.startswith("speaker:")}
    assert not train_speakers & test_speakers
    assert len(test_speakers) == round(kws.TEST_FRACTION * 6) and len(train_speakers) == 6 - len(test_speakers)
    assert {e.label for e in sp.test} == set(sp.classes)
    for part in (sp.train, sp.test):
        counts = {c: sum(e.label == c for e in part) for c in sp.classes}
        assert counts[kws.UNKNOWN] == counts["yes"]    # "up" became unknown, all of it (one word)
        assert counts[kws.SILENCE] == int(np.median([counts[c] for c in sp.classes if c != kws.SILENCE]))
    assert all(len(e.audio) == kws.CLIP_SAMPLES for e in sp.train + sp.test)


def test_silence_for_test_comes_from_noise_training_never_hears(tmp_path):
    ds = _dataset(tmp_path, speakers=3)
    noise = ds.noise[0].audio
    cut = int(len(noise) * (1 - kws.NOISE_TEST_FRACTION))
    sp = kws.split(ds, seed=2)
    train_noise = noise[:cut]
    assert len(sp.noise_train) == 1 and np.array_equal(sp.noise_train[0], train_noise)
    for e in sp.test:
        if e.label == kws.SILENCE and np.any(e.audio):
            # a test silence clip is a scaled slice of the noise's last part: correlate to find it
            level = np.abs(e.audio).max() / max(1, np.abs(noise[cut:]).max())
            assert level <= 1.0
            windows = np.lib.stride_tricks.sliding_window_view(noise[cut:].astype(float), kws.CLIP_SAMPLES)
            corr = windows @ e.audio.astype(float)
            best = windows[np.argmax(corr)]
            assert np.corrcoef(best, e.audio)[0, 1] > 0.99


def test_split_errors(tmp_path):
    ds = _dataset(tmp_path, speakers=1)
    with pytest.raises(TinymlError, match="one speaker: a test set needs another speaker"):
        kws.split(ds)
    ds = _dataset(tmp_path / "b", speakers=3)
    with pytest.raises(TinymlError, match="--words left: no such label folder"):
        kws.split(ds, words=["yes", "left"])
    _write(tmp_path / "c" / "silence" / "a_nohash_0.wav", tone(100, 16000))
    _write(tmp_path / "c" / "yes" / "b_nohash_0.wav", tone(100, 16000))
    with pytest.raises(TinymlError, match="folder named 'silence'"):
        kws.split(audio_data.load(tmp_path / "c"))


def test_fit_clip_centres_short_clips_and_keeps_the_loud_part_of_long_ones():
    short = np.ones(1000, np.int16)
    fitted = kws.fit_clip(short)
    assert len(fitted) == kws.CLIP_SAMPLES and np.flatnonzero(fitted)[[0, -1]].tolist() == [7500, 8499]
    long = np.zeros(40000, np.int16)
    long[30000:31000] = 1000
    assert np.count_nonzero(kws.fit_clip(long)) == 1000


def test_augment_mixes_noise_at_the_asked_snr():
    rng = np.random.default_rng(5)
    word = kws.fit_clip(tone(700, 16000, 0.5, 4000))
    noise = [kws.synthetic_noise(5.0, 3)]
    only_noise = kws.Augment(copies=1, shift_ms=0, speed=0, gain_db=0, noise_probability=1.0, snr_db=(10.0,))
    y = kws.augment(word, rng, noise, only_noise).astype(float)
    added = y - word
    active = word != 0
    snr = 10 * np.log10(np.mean(word[active].astype(float) ** 2) / np.mean(added[active] ** 2))
    assert snr == pytest.approx(10.0, abs=0.5)   # over the word; the noise's level varies a little slice to slice


def test_augment_shift_and_speed_move_and_stretch_the_word():
    rng = np.random.default_rng(1)
    word = kws.fit_clip(tone(700, 16000, 0.5, 4000))
    start, end = np.flatnonzero(word)[[0, -1]]
    shifts, lengths = set(), []
    for _ in range(20):
        y = kws.augment(word, rng, [], kws.Augment(copies=1, shift_ms=100, speed=0, gain_db=0, snr_db=()))
        shifts.add(int(np.flatnonzero(y)[0]) - int(start))
        z = kws.augment(word, rng, [], kws.Augment(copies=1, shift_ms=0, speed=0.1, gain_db=0, snr_db=()))
        nz = np.flatnonzero(np.abs(z) > 50)
        lengths.append((nz[-1] - nz[0]) / (end - start))
    assert max(abs(s) for s in shifts) <= 1600 and len(shifts) > 10
    assert 0.88 < min(lengths) < 0.97 and 1.03 < max(lengths) < 1.12


@pytest.mark.skipif(not FSDD_DIR.exists(), reason=f"FSDD recordings not at {FSDD_DIR} (../shared is not on this machine)")
def test_fsdd_loads_as_a_flat_folder_with_its_three_speakers():
    ds = audio_data.load(FSDD_DIR)
    assert len(ds.clips) == 1500 and ds.labels == [str(d) for d in range(10)]
    assert {c.speaker for c in ds.clips} == {"george", "jackson", "lucas"} and {c.rate for c in ds.clips} == {8000}
    sp = kws.split(ds, silence=False, seed=0)
    test_speakers = {e.group for e in sp.test}
    assert len(test_speakers) == 1 and not test_speakers & {e.group for e in sp.train}
    assert len(sp.test) == 500 and len(sp.train) == 1000


@pytest.mark.skipif(not speech_synth.available(), reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_espeak_voices_become_speakers(tmp_path):
    speech_synth.synthesize(tmp_path, ["yes", "no"], n_speakers=3, seed=1)
    ds = audio_data.load(tmp_path)
    assert ds.labels == ["no", "yes"] and len(ds.clips) == 6 and len(ds.noise) == 1
    assert len({c.speaker for c in ds.clips}) == 3 and {c.rate for c in ds.clips} == {22050}
    for c in ds.clips:  # a spoken word: loud somewhere, 0.2 s to 1.5 s long
        assert np.abs(c.audio).max() > 3000 and 0.2 < c.seconds < 1.5


def test_tinyml_data_summarises_and_plots_audio(tmp_path, capsys):
    _dataset(tmp_path / "d", speakers=2)
    assert cli.main(["data", str(tmp_path / "d"), "--plot", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert "yes" in out and "_background_noise_" in out and "16000" in out
    assert (tmp_path / "s.png").stat().st_size > 5000


def test_spec_masks_zero_one_band_and_one_stretch_at_most():
    f = np.full((200, 49, 40), 500, np.uint16)
    masked = kws.mask_frames(f, np.random.default_rng(0), kws.Augment(freq_mask=6, time_mask=8))
    assert np.array_equal(f, np.full_like(f, 500))          # the input is left alone
    widths, lengths = [], []
    for m in masked:
        zero = m == 0
        channels = np.flatnonzero(zero.all(axis=0))
        frames = np.flatnonzero(zero.all(axis=1))
        widths.append(len(channels))
        lengths.append(len(frames))
        if len(channels):
            assert channels[-1] - channels[0] + 1 == len(channels)      # one contiguous band
        # every zero is in the band or the stretch
        assert np.array_equal(zero, zero.all(axis=0)[None, :] | zero.all(axis=1)[:, None])
    assert max(widths) == 6 and max(lengths) == 8 and min(widths) == 0


def test_espeak_words_are_trimmed_to_the_word():
    rate = 22050
    word = (8000 * np.sin(np.arange(6000) / 7.0)).astype(np.int16)
    x = np.concatenate([np.zeros(300, np.int16), word, np.full(9000, 20, np.int16)])   # espeak-ng's tail
    t = speech_synth.trim(x, rate)
    margin = int(0.02 * rate)
    assert len(word) <= len(t) <= len(word) + 2 * margin + 1 and np.abs(t).max() == np.abs(word).max()
    assert np.array_equal(speech_synth.trim(np.zeros(100, np.int16), rate), np.zeros(100, np.int16))


def test_channel_centres_follow_the_mel_range():
    micro = kws.FRONTENDS["micro"]
    narrow = features.replace(micro, upper_band_limit=3800.0)
    assert kws.channel_hz(narrow)[-1] < 3800 < kws.channel_hz(micro)[-1] < 7500
    assert np.all(np.diff(kws.channel_hz(micro)) > 0) and kws.channel_hz(micro)[0] > 125


def test_vocal_tract_warp_moves_a_formant_up_or_down_by_the_factor():
    config = kws.FRONTENDS["micro"]
    hz = kws.channel_hz(config)
    f = np.zeros((300, 49, 40), np.uint16)
    f[:, :, 20] = 1000                             # one formant at channel 20
    warped = kws.warp_frames(f, np.random.default_rng(0), kws.Augment(warp=0.15), config)
    assert np.array_equal(f[:, :, 20], np.full((300, 49), 1000))    # the input is left alone
    peak = np.array([np.argmax(w[0]) for w in warped])
    ratio = hz[peak] / hz[20]
    assert ratio.min() >= 0.85 / 1.1 and ratio.max() <= 1.15 * 1.1 and len(set(peak)) > 3
    assert np.array_equal(kws.warp_frames(f, np.random.default_rng(0), kws.Augment(warp=0.0), config), f)


@pytest.mark.parametrize("kind", kws.MODELS)
def test_the_batch_one_twin_computes_what_was_trained(kind):
    """for_conversion copies the weights (folding dnn_cmn's mean removal into the first dense
    layer): the same outputs as the trained model, on inputs far from zero mean per channel."""
    model = kws.build(kind, 49, 40, 5, hidden=(16,), dropout=0.0, seed=3)
    rng = np.random.default_rng(0)
    x = (rng.uniform(0, 10, (4, 49, 40)) + rng.uniform(0, 20, (4, 1, 40))).reshape(4, -1).astype(np.float32)
    model.predict(x, verbose=0)  # builds the batch norm statistics' variables
    for layer in model.layers:   # non-trivial batch norm statistics, as after training
        if "batch_normalization" in layer.name:
            w = layer.get_weights()
            layer.set_weights([w[0] * 1.5, w[1] + 0.2, w[2] + 0.3, w[3] * 2.0])
    twin = kws.for_conversion(model, kind, 49, 40, 5, hidden=(16,))
    expected = model.predict(x, verbose=0)
    got = np.concatenate([twin.predict(row[None], verbose=0) for row in x])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
