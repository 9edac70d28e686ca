"""The virtual board's gestures (tinyml_sim/gestures.py) checked against physics
in CPython: numerical derivatives of the gesture's own orientation and position, computed here,
against what its accelerometer and gyroscope report."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml_host.virtual_board.tinyml_sim import gestures

NAMES = gestures.GESTURES


def test_the_four_gestures_the_issue_names_are_there():
    assert set(NAMES) >= {"still", "wave", "circle", "shake"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 5])
def test_gyro_is_the_rate_of_the_orientation_change(name, seed):
    """[w]x = R^T dR/dt, with dR/dt by central differences of orientation(t)."""
    g = gestures.Gesture(name, seed)
    h = 1e-5
    for t in np.linspace(0.0, 2.0, 23):
        r = np.array(g.orientation(t))
        assert r @ r.T == pytest.approx(np.eye(3), abs=1e-12)   # a rotation
        dr = (np.array(g.orientation(t + h)) - np.array(g.orientation(t - h))) / (2 * h)
        skew = r.T @ dr
        w = np.degrees([skew[2, 1], skew[0, 2], skew[1, 0]])
        assert np.array(g.ideal(t)[3:]) == pytest.approx(w, abs=1e-3 + 1e-6 * np.abs(w).max())


@pytest.mark.parametrize("name", NAMES)
def test_integrated_gyro_gives_the_orientation_change(name):
    """Integrating dR = R [w]x dt from orientation(0) with the reported rates lands on orientation(t)."""
    g = gestures.Gesture(name, 3)
    r = np.array(g.orientation(0.0))
    dt = 1e-4
    steps = 10000  # one second
    for k in range(steps):
        w = np.radians(g.ideal((k + 0.5) * dt)[3:])
        angle = np.linalg.norm(w) * dt
        if angle:
            axis = w / np.linalg.norm(w)
            k_ = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
            r = r @ (np.eye(3) + np.sin(angle) * k_ + (1 - np.cos(angle)) * k_ @ k_)
    assert r == pytest.approx(np.array(g.orientation(steps * dt)), abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_accelerometer_is_gravity_plus_motion_in_the_board_frame(name):
    """accel (g) = R^T (p'' / g0 + up), p'' by second differences of position(t)."""
    g = gestures.Gesture(name, 1)
    h = 1e-4   # the second difference's own error, h^2 p''''/12, is then below 1e-5 g for a fast shake
    for t in np.linspace(0.0, 2.0, 17):
        p = [np.array(g.position(t + d)) for d in (-h, 0.0, h)]
        acc = (p[0] - 2 * p[1] + p[2]) / h**2
        expected = np.array(g.orientation(t)).T @ (acc / 9.80665 + np.array([0.0, 0.0, 1.0]))
        assert np.array(g.ideal(t)[:3]) == pytest.approx(expected, abs=1e-4)


def test_still_reads_one_g_and_no_rotation():
    for seed in range(5):
        g = gestures.Gesture("still", seed)
        samples = np.array([g.sample(k / 50) for k in range(100)])
        assert np.linalg.norm(samples[:, :3], axis=1) == pytest.approx(1.0, abs=0.06)
        assert np.abs(samples[:, 3:]).max() < 6.0      # bias <= 1 deg/s, noise 0.3, tremor < 4


def test_gestures_differ_in_what_the_sensors_see():
    """Rough magnitudes a person would produce: wave turns the wrist by hundreds of deg/s, shake
    is strokes of about 1 g at several Hz, circle about half a g."""
    def stats(name, seed):
        g = gestures.Gesture(name, seed)
        s = np.array([g.ideal(k / 200) for k in range(400)])
        motion = s[:, :3] - s[:, :3].mean(axis=0)
        return np.linalg.norm(motion, axis=1).max(), np.abs(s[:, 3:]).max()

    for seed in range(3):
        assert stats("still", seed)[0] < 0.01
        assert stats("wave", seed)[1] > 100
        assert 0.5 < stats("shake", seed)[0] < 4
        assert 0.2 < stats("circle", seed)[0] < 1.5


def test_takes_vary_with_the_seed_and_repeat_with_it():
    a, b, a2 = gestures.Gesture("wave", 1), gestures.Gesture("wave", 2), gestures.Gesture("wave", 1)
    assert [a.sample(k / 50) for k in range(20)] == [a2.sample(k / 50) for k in range(20)]
    assert a.speed != b.speed and a.amplitude != b.amplitude and a.holding != b.holding
    lo, hi = gestures.SPEED_RANGE
    speeds = [gestures.Gesture("circle", s).speed for s in range(50)]
    assert lo <= min(speeds) and max(speeds) <= hi and max(speeds) - min(speeds) > 0.3 * (hi - lo)
    tilts = [np.degrees(np.arccos(gestures.Gesture("still", s).holding[2][2])) for s in range(50)]
    assert max(tilts) <= gestures.TILT_MAX_DEG + 1e-9 and max(tilts) > 15


def test_unknown_gesture_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown gesture 'jump'; known: still, wave, circle, shake"):
        gestures.Gesture("jump")
