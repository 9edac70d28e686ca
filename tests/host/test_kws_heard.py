"""kws.heard: training and evaluation hear a clip as a board that has been listening all along
does, not from a front end reset on digital silence."""

import numpy as np

from tinyml_host import features, kws

CONFIG = kws.FRONTENDS["micro"]


def _room(seconds: float, dbfs: float, seed: int) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(int(seconds * 16000))
    return np.round(n / n.std() * 32768 * 10 ** (dbfs / 20)).astype(np.int16)


def _word(samples: int = 4000) -> np.ndarray:
    """A tone that fades in and out, as a synthetic voice's word does."""
    return np.round(np.sin(np.arange(samples) / 5.0) * np.hanning(samples) * 8000).astype(np.int16)


def test_the_clip_rides_on_the_noise_at_the_level_asked_for():
    clip = kws.fit_clip(_word(8000))
    pool = [_room(3.0, -30.0, 2)]
    lead = kws.listen_samples(CONFIG)
    x = kws.heard(clip, pool, np.random.default_rng(5), -50.0, lead)
    floor = kws.heard(np.zeros_like(clip), pool, np.random.default_rng(5), -50.0, lead)
    assert len(x) == lead + len(clip) and lead % features.plan(CONFIG).step_samples == 0
    rms = np.sqrt(np.mean(floor.astype(np.float64) ** 2)) / 32768
    assert abs(20 * np.log10(rms) + 50.0) < 0.1
    assert np.array_equal(x[:lead], floor[:lead])
    assert np.abs(x[lead:].astype(np.int32) - floor[lead:] - clip).max() <= 1   # rounding only


def test_a_heard_room_has_no_onset_where_a_reset_front_end_has_one():
    """A second of a room's noise and nothing else: a front end reset on it lights every channel
    at the start (PCAN's gain over a noise estimate of zero); heard, after a second of the same
    room, its first frames are as quiet as its last, the front end's estimate settled."""
    room = _room(1.0, -45.0, 3)
    reset = features.microfrontend(room, CONFIG).astype(np.float64)
    quiet = np.zeros_like(room)   # the clip adds nothing: what is heard is the room going on
    heard = kws.heard_frames([quiet], CONFIG, [_room(8.0, -45.0, 4)], seed=1, level_dbfs=-45.0)[0].astype(np.float64)
    assert heard.shape == reset.shape == (49, 40)
    assert reset[:5].mean() > 2.5 * reset[-20:].mean()
    assert 0.75 < heard[:5].mean() / heard[-20:].mean() < 1.33


def test_heard_frames_of_a_list_are_those_of_its_parts():
    clips = [_room(1.0, -30.0, k) for k in range(3)]
    pool = [_room(3.0, -40.0, 9)]
    whole = kws.heard_frames(clips, CONFIG, pool, seed=2)
    parts = np.concatenate([kws.heard_frames(clips[:1], CONFIG, pool, seed=2),
                            kws.heard_frames(clips[1:], CONFIG, pool, seed=2, first=1)])
    assert np.array_equal(whole, parts)
    assert not np.array_equal(whole[0], kws.heard_frames(clips[:1], CONFIG, pool, seed=3)[0])


def test_the_listening_is_no_quieter_than_the_recordings_own_room():
    """A recording made in a room at -50 dBFS, padded with digital silence: its room is measured
    (the quietest 20 ms at its ends), and the listening before it is that loud, not the -60 dBFS
    asked for, so no step in the noise marks where the recording starts. A recording quieter than
    the level asked for gets that level."""
    word = _word()
    recording = np.concatenate([_room(0.2, -50.0, 5), word + _room(0.25, -50.0, 6), _room(0.2, -50.0, 7)])
    clip = kws.fit_clip(recording)
    assert abs(kws.recording_floor_dbfs(clip) + 50.0) < 1.5
    loud = kws.fit_clip(np.concatenate([_room(0.2, -20.0, 5), word, _room(0.2, -20.0, 7)]))
    assert kws.recording_floor_dbfs(loud) == kws.ROOM_CAP_DBFS     # a room that loud is taken as the cap
    quiet = kws.fit_clip(np.concatenate([_room(0.2, -80.0, 5), word, _room(0.2, -80.0, 7)]))
    assert abs(kws.recording_floor_dbfs(quiet) + 80.0) < 1.5 and kws.recording_floor_dbfs(np.zeros(100, np.int16)) is None
    pool = [_room(3.0, -20.0, 8)]
    lead = kws.listen_samples(CONFIG)
    for x, expect in ((clip, kws.recording_floor_dbfs(clip)), (quiet, -60.0)):
        h = kws.heard(x, pool, np.random.default_rng(1), -60.0, lead)
        rms = np.sqrt(np.mean(h[:lead].astype(np.float64) ** 2)) / 32768
        assert abs(20 * np.log10(rms) - expect) < 0.1
