"""`tinyml train kws DIR` on espeak-ng voices (cached, models.kws_run) and `tinyml evaluate` on
keyword and gesture models. The int8 results are checked again with TFLite's own interpreter;
the accuracy goals are measured on FSDD by kws_bench.py, not here."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import models
from tinyml_host import audio_data, cli, dataset, evaluate, features, gesture, kws, speech_synth, tmdl
from tinyml_host.errors import TinymlError

needs_espeak = pytest.mark.skipif(not speech_synth.available(),
                                  reason="espeak-ng is not installed (apt-get install espeak-ng): no voices to train on")


@pytest.fixture(scope="module")
def run():
    folder = models.kws_run()
    return folder, json.loads((folder / "models" / "kws.report.json").read_text())


@needs_espeak
def test_report_is_consistent_and_better_than_chance(run):
    folder, r = run
    assert r["classes"] == ["left", "no", "right", "yes", kws.UNKNOWN, kws.SILENCE]
    c = np.array(r["confusion"])
    assert c.sum() == r["split"]["test_clips"]
    assert np.trace(c) / c.sum() == pytest.approx(r["int8_accuracy"])
    for i, name in enumerate(r["classes"]):
        assert r["per_class"][name] == pytest.approx(c[i, i] / c[i].sum())
    assert set(r["frontends"]) == {"micro", "logmel"} and r["frontend"]["frontend"] == "micro"
    assert r["frontends"]["micro"]["int8_accuracy"] == r["int8_accuracy"]
    assert r["frontends"]["logmel"]["model"] == r["model"]["kind"]   # the comparison uses the chosen network
    # six classes, 1/6 by chance; 36 held-out clips of 6 unseen synthetic voices: measured 100 %
    # with the micro front end here (and 42 % with logmel, which this short training suits less)
    assert r["int8_accuracy"] >= 0.9
    if r["model"]["kind"] == "dnn":
        assert set(r["boards"]) >= {"nano33_ble_sense", "pico"} and r["boards"]["nano33_ble_sense"]["native_us"] > 0
    else:  # estimate.py prices dense layers only: no figure rather than a wrong one
        assert r["boards"] == {} and "dense layers only" in r["boards_note"]
    assert (folder / "models" / "kws.confusion.png").stat().st_size > 5000


@needs_espeak
def test_every_network_is_tried_and_the_pick_is_the_smallest_near_the_best(run):
    folder, r = run
    rows = {c["model"]: c for c in r["candidates"]}
    assert set(rows) == set(kws.MODELS) and all(c["frontend"] == "micro" for c in rows.values())
    best = max(c["int8_accuracy"] for c in rows.values())
    near = [c for c in rows.values() if c["int8_accuracy"] >= best - 0.01]
    assert r["model"]["kind"] == min(near, key=lambda c: c["tmdl_bytes"])["model"]
    assert rows[r["model"]["kind"]]["tmdl_bytes"] == r["tmdl_bytes"]
    assert rows["tiny_conv"]["tmdl_bytes"] < rows["dnn"]["tmdl_bytes"]


@needs_espeak
def test_speakers_are_held_out_whole(run):
    folder, r = run
    train, test = set(r["split"]["train_groups"]), set(r["split"]["test_groups"])
    assert not train & test
    speakers = {g for g in test if g.startswith("speaker:")}
    assert len(speakers) == round(kws.TEST_FRACTION * models.KWS_SPEAKERS)
    assert {g for g in train | test if g.startswith("speaker:")} == \
        {f"speaker:espeak{k}" for k in range(models.KWS_SPEAKERS)}


@needs_espeak
def test_model_files_agree_with_the_report(run):
    folder, r = run
    m = tmdl.read(folder / "models" / "kws.tmdl")
    params = json.loads((folder / "models" / "kws.frontend.json").read_text())
    assert params == r["frontend"]
    assert m.input_size == params["frames"] * params["channels"] == 49 * 40 and m.output_size == len(r["classes"])
    assert m.is_dense == (r["model"]["kind"] == "dnn")
    assert (m.input_scale, m.input_zp) == (pytest.approx(params["input_scale"]), params["input_zero_point"])
    assert (folder / "models" / "kws.classes").read_text().split() == r["classes"]
    assert (folder / "models" / "kws.tmdl").stat().st_size == r["tmdl_bytes"]


def _held_out_folder(run, tmp_path):
    """The test speakers' clips (links to them), in the same layout."""
    folder, r = run
    test = {g.split(":", 1)[1] for g in r["split"]["test_groups"] if g.startswith("speaker:")}
    out = tmp_path / "held_out"
    for clip in audio_data.load(folder / "data").clips:
        if clip.speaker in test:
            (out / clip.path.parent.name).mkdir(parents=True, exist_ok=True)
            (out / clip.path.parent.name / clip.path.name).symlink_to(clip.path)
    return out


@needs_espeak
@pytest.mark.parametrize("suffix", [".tmdl", ".tflite"])
def test_evaluate_on_the_held_out_speakers_repeats_the_reports_rows(run, tmp_path, capsys, suffix):
    """Same clips, same front end, same int8 model: the confusion rows of the words and of
    unknown are the training report's (silence is made by training, not in the folder)."""
    folder, r = run
    held = _held_out_folder(run, tmp_path)
    assert cli.main(["evaluate", str(folder / "models" / f"kws{suffix}"), str(held), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"accuracy", "per_class", "confusion"} and 0 <= out["accuracy"] <= 1
    assert out["confusion"][:-1] == r["confusion"][:-1]
    assert out["per_class"][kws.SILENCE] is None and out["per_class"]["yes"] == r["per_class"]["yes"]


@needs_espeak
def test_evaluate_agrees_with_tflites_interpreter(run, tmp_path):
    from ai_edge_litert import interpreter as litert

    folder, r = run
    held = _held_out_folder(run, tmp_path)
    result = evaluate.evaluate(folder / "models" / "kws.tflite", held)
    ds = audio_data.load(held)
    model = evaluate.read_model(folder / "models" / "kws.tflite")
    fe = evaluate.AudioFrontend(model, folder / "models" / "kws.tflite", held)
    x = fe.inputs([fe.samples(c.audio) for c in ds.clips])
    interp = litert.Interpreter(model_content=(folder / "models" / "kws.tflite").read_bytes())
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    predicted = []
    for row in x:
        interp.set_tensor(inp["index"], row.reshape(1, -1))
        interp.invoke()
        predicted.append(int(np.argmax(interp.get_tensor(out["index"])[0])))
    truth = [r["classes"].index(c.label if c.label in r["classes"] else kws.UNKNOWN) for c in ds.clips]
    assert gesture.confusion(np.eye(len(r["classes"]))[predicted], np.array(truth), len(r["classes"])) == \
        result["confusion"]


def test_evaluate_a_gesture_model_on_its_held_out_takes(tmp_path, capsys):
    folder = models.gesture_run()
    report = json.loads((folder / "models" / "gesture.report.json").read_text())
    held = tmp_path / "takes"
    for take in dataset.load(folder / "data"):
        if take.path.stem in report["test_takes"]:
            (held / take.label).mkdir(parents=True, exist_ok=True)
            for f in (take.path, take.path.with_suffix(".npy")):
                shutil.copy(f, held / take.label / f.name)
    capsys.readouterr()  # what building the cached gesture run printed
    assert cli.main(["evaluate", str(folder / "models" / "gesture.tmdl"), str(held), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["confusion"] == report["confusion"] and out["accuracy"] == pytest.approx(report["int8_accuracy"])
    assert out["kind"] == "imu" and set(out["per_class"]) == set(report["classes"])
    assert cli.main(["evaluate", str(folder / "models" / "gesture.tflite"), str(held)]) == 0
    assert f"accuracy {report['int8_accuracy']:.1%}" in capsys.readouterr().out


def test_evaluate_refuses_mismatches(tmp_path, capsys):
    folder = models.gesture_run()
    wavs = tmp_path / "wavs"
    speech_synth.write_wav(wavs / "yes" / "a_nohash_0.wav", np.zeros(8000, np.int16))
    with pytest.raises(TinymlError, match="gesture.frontend.json beside it: not a keyword model"):
        evaluate.evaluate(folder / "models" / "gesture.tmdl", wavs)
    lonely = tmp_path / "m.tmdl"
    shutil.copy(folder / "models" / "gesture.tmdl", lonely)
    with pytest.raises(TinymlError, match="m.classes is missing"):
        evaluate.evaluate(lonely, folder / "data")
    with pytest.raises(TinymlError, match="give a .tflite or .tmdl"):
        evaluate.evaluate(tmp_path / "m.onnx", folder / "data")
    (tmp_path / "m.classes").write_text("a\nb\nc\n")
    with pytest.raises(TinymlError, match="3 classes, the model has 4 outputs"):
        evaluate.evaluate(lonely, folder / "data")
    (tmp_path / "m.classes").write_text("circle\nshake\nstill\nstir\n")
    with pytest.raises(TinymlError, match="labels wave are not among the model's classes"):
        evaluate.evaluate(lonely, folder / "data")
    assert cli.main(["evaluate", str(lonely), str(tmp_path / "nowhere")]) == 1
    assert "no dataset folder" in capsys.readouterr().err


@needs_espeak
def test_evaluate_refuses_an_imu_folder_for_a_keyword_model(run):
    folder, _ = run
    with pytest.raises(TinymlError, match="IMU takes, but the model takes 1960 inputs"):
        evaluate.evaluate(folder / "models" / "kws.tmdl", models.gesture_run() / "data")


def test_train_kws_command_line_errors(tmp_path, capsys):
    assert cli.main(["train", "kws"]) == 1
    assert "needs the folder of WAV clips" in capsys.readouterr().err
    assert cli.main(["train", "gesture", str(tmp_path), "--frontend", "micro"]) == 1
    assert "--frontend is an option of `tinyml train kws`" in capsys.readouterr().err
    assert cli.main(["train", "kws", str(tmp_path), "--copies", "-1"]) == 1
    assert "--copies must be 0 to 50" in capsys.readouterr().err
    assert cli.main(["train", "kws", str(tmp_path), "-o", str(tmp_path / "k.tmdl")]) == 1
    assert "give the .tflite path" in capsys.readouterr().err
    assert cli.main(["train", "kws", str(tmp_path), "--espeak", "-1"]) == 1
    assert "--espeak must be 0 or more" in capsys.readouterr().err
    assert cli.main(["train", "gesture", str(tmp_path), "--flite", "3"]) == 1
    assert "--flite is an option of `tinyml train kws`" in capsys.readouterr().err
    assert cli.main(["train", "kws", str(tmp_path), "--warp", "0.5"]) == 1
    assert "--warp must be 0 to 0.3" in capsys.readouterr().err
    assert cli.main(["train", "gesture", str(tmp_path), "--warp", "0.1"]) == 1
    assert "--warp is an option of `tinyml train kws`" in capsys.readouterr().err


def test_warp_reaches_the_copies_and_only_them(monkeypatch, tmp_path):
    """`--warp 0.1` is the Augment that featurize warps the copies' frames by (the recordings
    themselves stay as recorded)."""
    seen = {}

    def train_kws(*args, **kwargs):
        seen.update(kwargs)
        raise TinymlError("stopped before training")

    monkeypatch.setattr(kws, "train_kws", train_kws)
    assert cli.main(["train", "kws", str(tmp_path), "--warp", "0.1", "--copies", "2"]) == 1
    assert seen["augment_with"] == kws.Augment(copies=2, warp=0.1)
    config = kws.FRONTENDS["micro"]
    rng = np.random.default_rng(5)
    clip = np.round(rng.standard_normal(kws.CLIP_SAMPLES) * 3000 * np.sin(np.arange(kws.CLIP_SAMPLES) / 900.0))
    clips = [clip.astype(np.int16)] * 3   # the clip and its two copies, augmented_audio's order
    sp = kws.Split(classes=["a"], train=[], test=[])
    f = kws.featurize(sp, "micro", clips, np.zeros(3, np.int64), seen["augment_with"], seed=1)
    plain = kws.model_input(kws.heard_frames(clips[:1], config, [kws.synthetic_noise(20.0, 1)], 1 + 5))
    assert np.array_equal(f.x_train[0], plain[0])
    assert not np.array_equal(f.x_train[1], plain[0]) and not np.array_equal(f.x_train[2], plain[0])


@needs_espeak
def test_synthetic_voices_join_training_only_at_the_recordings_bandwidth(tmp_path):
    """add_synthetic (what `tinyml train kws` does by default): the keywords, not `unknown`'s
    labels, said by synthetic voices, on the training side only (the held-out speakers stay the
    recorded ones), passed through the recordings' 8 kHz: nothing above 4 kHz."""
    for k, speaker in enumerate(("ann", "bob", "cyd", "dee")):
        for word in ("yes", "up"):
            rate, x = speech_synth.speak(word, "en-us", speech_synth.VARIANTS[k], 150, 50)
            speech_synth.write_wav(tmp_path / word / f"{speaker}_nohash_0.wav",
                                   audio_data.resample(speech_synth.trim(x, rate), rate, 8000), 8000)
    ds = audio_data.load(tmp_path)
    sp = kws.split(ds, ["yes"], seed=1)
    before_train, before_test = len(sp.train), list(sp.test)
    flite = 1 if speech_synth.flite_available() else 0
    summary = kws.add_synthetic(sp, ds, 2, flite, seed=1, log=lambda m: None)
    assert summary == {"espeak_voices": 2, "flite_voices": flite, "clips": 2 + flite, "through_rate": 8000}
    synthetic = sp.train[before_train:]
    assert sp.test == before_test and len(synthetic) == 2 + flite
    assert {e.group for e in synthetic} == {"synthetic:espeak0", "synthetic:espeak1"} | (
        {"synthetic:flite0"} if flite else set())
    for e in synthetic:
        assert e.label == "yes" and len(e.audio) == kws.CLIP_SAMPLES
        power = np.abs(np.fft.rfft(e.audio.astype(np.float64))) ** 2
        hz = np.fft.rfftfreq(len(e.audio), 1 / audio_data.RATE)
        assert power[hz > 4200].sum() < 1e-3 * power.sum()
    assert kws.add_synthetic(sp, ds, 0, 0, log=lambda m: None)["clips"] == 0


def test_the_trained_model_records_its_front_end_for_the_board(run):
    """The .tmdl carries the front end it was trained on (docs/format.md, "Records"): the
    settings of the report's front end and an int8 conversion that is training's to_int8 on
    every uint16 value, so the keyword app computes what training did."""
    folder, report = run
    m = tmdl.read(folder / "models" / "kws.tmdl")
    assert m.frontend is not None
    _, thresholds, settings = features.split_record(m.frontend)
    params = kws.read_frontend_params(folder / "models" / "kws.frontend.json")[1]
    assert settings == kws.FRONTENDS[params["frontend"]] == features.FrontendConfig(**params["config"])
    v = np.arange(65536)
    want = features.to_int8(v, params["input_scale"], params["input_zero_point"], params["feature_scale"])
    assert (features.apply_thresholds(v, thresholds) == want.reshape(-1)).all()
