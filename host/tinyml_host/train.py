"""Train the TFLite Micro "hello world" sine model and let the TFLite converter quantize it.

The model and data follow the TFLite Micro hello_world example: Dense(16, relu) ->
Dense(16, relu) -> Dense(1), trained on noisy sin(x) for x in [0, 2*pi]. Quantization
is done by tf.lite.TFLiteConverter with a representative dataset (full int8, int8 in
and out); we never re-implement it.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .files import atomic_write

SINE_SEED = 1337
SINE_SAMPLES = 1000


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def _verbose() -> bool:
    return os.environ.get("TINYML_VERBOSE") == "1"


@contextlib.contextmanager
def _converter_log():
    """Hold back what TensorFlow writes while it converts (the saved-artifact dump, the MLIR
    calibrator's lines, UserWarnings), some through Python's sys.stdout and some straight to
    file descriptors 1 and 2 from C++. Shown with `--verbose` (TINYML_VERBOSE=1), and
    whenever conversion fails."""
    if _verbose():
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    python_log = io.StringIO()
    with tempfile.TemporaryFile() as native_log:
        os.dup2(native_log.fileno(), 1)
        os.dup2(native_log.fileno(), 2)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(python_log), \
                    contextlib.redirect_stderr(python_log):
                warnings.simplefilter("ignore", UserWarning)
                yield
        except BaseException:
            _restore(saved)
            native_log.seek(0)
            sys.stderr.write(python_log.getvalue() + native_log.read().decode(errors="replace"))
            raise
        _restore(saved)


def _restore(saved):
    for fd, copy in zip((1, 2), saved):
        os.dup2(copy, fd)
        os.close(copy)


def sine_dataset(seed: int = SINE_SEED, samples: int = SINE_SAMPLES):
    """Noisy sin(x) samples, x uniform in [0, 2*pi], split 60/20/20 like hello_world."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 2 * math.pi, samples).astype(np.float32)
    y = (np.sin(x) + 0.1 * rng.standard_normal(samples)).astype(np.float32)
    n_train, n_val = int(0.6 * samples), int(0.2 * samples)
    return (x[:n_train], y[:n_train]), (x[n_train:n_train + n_val], y[n_train:n_train + n_val])


def train_sine(epochs: int = 500, seed: int = SINE_SEED):
    """Return a trained Keras model. Deterministic for a given seed on one machine."""
    tf = _quiet_tensorflow()
    tf.keras.backend.clear_session()  # layer names go into the .tflite; restart their counters
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    (x_train, y_train), (x_val, y_val) = sine_dataset(seed)
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(1,)),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=64,
              validation_data=(x_val, y_val), verbose=0)
    return model


def quantize_int8(model, representative_inputs: np.ndarray, per_channel: bool = True) -> bytes:
    """Full-integer post-training quantization by the TFLite converter, int8 in and out.

    representative_inputs: float array shaped like the model input (batch first).
    per_channel=False asks the converter for per-tensor Dense weight scales.
    """
    tf = _quiet_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def representative():
        for row in representative_inputs:
            yield [np.asarray(row, dtype=np.float32).reshape(1, -1)]

    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    with _converter_log():
        return converter.convert()


def sine_tflite(epochs: int = 500, seed: int = SINE_SEED) -> bytes:
    model = train_sine(epochs=epochs, seed=seed)
    x = np.linspace(0.0, 2 * math.pi, 500, dtype=np.float32).reshape(-1, 1)
    return quantize_int8(model, x)


def write_sine(path: str | Path) -> Path:
    return write_model("sine", path)


# --- motion: is the board still or moving? (the sensor app's model) -------------------------

MOTION_WINDOW = 16        # IMU samples per inference
MOTION_RATE_HZ = 50       # sampling rate the app reads the IMU at
ACCEL_LSB_PER_G = 16384   # MPU-6050 at +-2 g (device/lib/tinyml/sensors/mpu6050.py)
GYRO_LSB_PER_DPS = 131    # MPU-6050 at +-250 deg/s
# model input per sample: accel x,y,z in g, gyro x,y,z in units of 100 deg/s
MOTION_GYRO_UNIT_DPS = 100.0


def motion_dataset(n: int = 3000, seed: int = 7):
    """Synthetic IMU windows from a simple physical picture, labelled still (0) or moving (1).

    still: gravity along a random direction, sensor noise. moving: the same plus a rocking or
    shaking motion (0.15-1 g at 0.5-5 Hz on a random axis) with the matching rotation rate."""
    rng = np.random.default_rng(seed)
    t = np.arange(MOTION_WINDOW) / MOTION_RATE_HZ
    x = np.zeros((n, MOTION_WINDOW, 6), np.float32)
    y = np.zeros(n, np.int64)
    for k in range(n):
        g = rng.normal(size=3)
        g /= np.linalg.norm(g)
        accel = np.tile(g, (MOTION_WINDOW, 1)) + rng.normal(0, 0.01, (MOTION_WINDOW, 3))
        gyro = rng.normal(0, 0.5, (MOTION_WINDOW, 3))
        if k % 2:
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            freq, amp = rng.uniform(0.5, 5.0), rng.uniform(0.15, 1.0)
            wave = np.sin(2 * math.pi * freq * t + rng.uniform(0, 2 * math.pi))
            accel += amp * np.outer(wave, axis)
            gyro += rng.uniform(20, 200) * np.outer(np.cos(2 * math.pi * freq * t), rng.normal(size=3) / math.sqrt(3))
            y[k] = 1
        x[k, :, :3] = accel
        x[k, :, 3:] = gyro / MOTION_GYRO_UNIT_DPS
    return x.reshape(n, -1), y


def motion_tflite(epochs: int = 30, seed: int = 7) -> bytes:
    tf = _quiet_tensorflow()
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    x, y = motion_dataset(seed=seed)
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(x.shape[1],)),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return quantize_int8(model, x[:500])


# --- ad01: an autoencoder of the shape of MLPerf Tiny's anomaly-detection model -------------

AD01_BANDS = 128          # log-mel bands per slice
AD01_SLICES = 5           # consecutive slices per model input (640 values)
AD01_WIDTHS = [128, 128, 128, 128, 8, 128, 128, 128, 128]  # then back to 640: AD01's dense stack


def ad01_recording(frames: int = 200, seed: int = 11) -> np.ndarray:
    """A synthetic machine-sound recording as log-mel slices [frames, 128] in dB-like units
    (about -70 to 0, the range of MLPerf's ToyCar recordings): a spectral tilt, a few
    harmonics of a motor whose speed and loudness drift, and noise. Same seed, same data."""
    rng = np.random.default_rng(seed)
    bands = np.arange(AD01_BANDS)
    tilt = -15.0 - 35.0 * bands / AD01_BANDS + rng.normal(0, 2.0, AD01_BANDS)
    base = rng.uniform(6, 14)   # the motor's fundamental, in bands
    drift = np.cumsum(rng.normal(0, 0.05, frames))
    out = np.empty((frames, AD01_BANDS), np.float32)
    for t in range(frames):
        f0 = base * (1 + 0.02 * drift[t])
        harmonics = sum(rng.uniform(8, 14) / k * np.exp(-0.5 * ((bands - k * f0) / 1.5) ** 2) for k in range(1, 6))
        out[t] = tilt + harmonics + rng.normal(0, 2.5, AD01_BANDS)
    return out


def ad01_windows(recording: np.ndarray) -> np.ndarray:
    """Model inputs: every run of AD01_SLICES consecutive slices, flattened ([frames - 4, 640])."""
    return np.stack([recording[i:i + AD01_SLICES].reshape(-1) for i in range(len(recording) - AD01_SLICES + 1)])


def ad01_tflite(epochs: int = 8, recordings: int = 12, seed: int = 5) -> bytes:
    """AD01's shape (640 -> 128x4 -> 8 -> 128x4 -> 640, relu between), trained briefly to
    reconstruct synthetic recordings: a stand-in when MLPerf's trained AD01 is not at hand.
    (MLPerf's has batch normalization after each dense layer; the converter folds that into
    the dense layer, so the int8 graphs have the same ops and sizes.)"""
    tf = _quiet_tensorflow()
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    x = np.concatenate([ad01_windows(ad01_recording(seed=seed * 100 + k)) for k in range(recordings)])
    layers = [tf.keras.Input(shape=(AD01_BANDS * AD01_SLICES,))]
    layers += [tf.keras.layers.Dense(w, activation="relu") for w in AD01_WIDTHS]
    layers.append(tf.keras.layers.Dense(AD01_BANDS * AD01_SLICES))
    model = tf.keras.Sequential(layers)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, x, epochs=epochs, batch_size=64, verbose=0)
    return quantize_int8(model, x[::4])


def write_model(name: str, path: str | Path) -> Path:
    makers = {"sine": sine_tflite, "motion": motion_tflite, "ad01": ad01_tflite}
    if name not in makers:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(makers)}")
    return atomic_write(path, makers[name]())
