# Gesture: read the IMU at 50 Hz, every HOP samples classify the last WINDOW with the model
# `tinyml train gesture` made from your recordings, set the LED brightness by class
# (class i of n: (i + 1) / n of full) and stream "seq,class,score" over telemetry.
# Features, as host/tinyml_host/gesture.py computes them: per channel (accel in g, gyro in
# 100 deg/s) mean, log standard deviation, minimum, maximum, log mean absolute change, then the
# log deviation of the accelerometer's magnitude and the log mean of the gyro's: 32 numbers.
# Sizes of motion enter as log(x + FLOOR), so a gentle gesture stays far from a still board.
# Class names come from gesture.classes (one per line, written beside the model by training);
# with telemetry the app sends them as the text line "CLASSES name0 name1 ...\n" when a central
# connects and every CLASSES_EVERY frames after (a central may subscribe to notifications a
# little after it connects, and would miss a line sent once), so `tinyml monitor` and the web
# page show names, not indices.
import math
from array import array

import tinyml
from tinyml import apps, clock, hal, sensors

MODEL = "gesture.tmdl"
CLASSES = "gesture.classes"
RATE_HZ = 50          # host/tinyml_host/gesture.py RATE_HZ, WINDOW, GYRO_UNIT_DPS
WINDOW = 50
HOP = 25
CLASSES_EVERY = 10    # frames between repeats of the CLASSES line: 5 s at one frame per HOP
GYRO_UNIT_DPS = 100
FLOOR = 0.001         # host/tinyml_host/gesture.py FLOOR
CHANNELS = 6
STATS = 5
FEATURES = STATS * CHANNELS + 2


def class_names(path=CLASSES, n=0):
    try:
        with open(path) as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError:
        names = []
    return names if len(names) == n else ["class%d" % i for i in range(n)]


def features(ring, head, scale, out):
    """ring: array('h') of WINDOW * CHANNELS raw counts, oldest sample at `head`; scale: units
    per count, per channel. Writes the FEATURES features into `out`, statistic-major: means, log
    standard deviations, minima, maxima, log mean absolute changes; then the two magnitudes'.
    The deviations take a second pass over the window: E[x^2] - mean^2 loses the small variance
    of a still board in float32."""
    log = math.log
    for c in range(CHANNELS):
        s = scale[c]
        total = 0
        change = 0
        lo = hi = prev = ring[head * CHANNELS + c]
        for t in range(WINDOW):
            v = ring[((head + t) % WINDOW) * CHANNELS + c]
            total += v
            change += abs(v - prev)
            prev = v
            if v < lo:
                lo = v
            elif v > hi:
                hi = v
        mean = total / WINDOW
        squares = 0.0
        for t in range(WINDOW):
            d = ring[((head + t) % WINDOW) * CHANNELS + c] - mean
            squares += d * d
        out[c] = mean * s
        out[CHANNELS + c] = log(math.sqrt(squares / WINDOW) * s + FLOOR)
        out[2 * CHANNELS + c] = lo * s
        out[3 * CHANNELS + c] = hi * s
        out[4 * CHANNELS + c] = log(change / (WINDOW - 1) * s + FLOOR)
    # the magnitudes, free of how the board is held: accelerometer (its deviation) and gyro (its mean)
    accel = gyro = 0.0
    for t in range(WINDOW):
        i = ((head + t) % WINDOW) * CHANNELS
        accel += _norm(ring, i, scale)
        gyro += _norm(ring, i + 3, scale, 3)
    accel /= WINDOW
    squares = 0.0
    for t in range(WINDOW):
        d = _norm(ring, ((head + t) % WINDOW) * CHANNELS, scale) - accel
        squares += d * d
    out[STATS * CHANNELS] = log(math.sqrt(squares / WINDOW) + FLOOR)
    out[STATS * CHANNELS + 1] = log(gyro / WINDOW + FLOOR)


def _norm(ring, i, scale, c=0):
    """The length of the 3-vector at ring[i:i + 3], each in its channel's units (c: first channel)."""
    x = ring[i] * scale[c]
    y = ring[i + 1] * scale[c + 1]
    z = ring[i + 2] * scale[c + 2]
    return math.sqrt(x * x + y * y + z * z)


def run(inferences=0, verbose=False, period_ms=1000 // RATE_HZ, model=MODEL, telemetry=False, sleep="auto"):
    """Classify forever (inferences=0) or that many times; print the class if verbose. With
    telemetry (True, "serial" or a link to keep) stream "seq,class,score"; RX: led on|off, app NAME."""
    m = tinyml.load(model)
    if len(m.input) != FEATURES or len(m.output) < 2:
        raise ValueError("%s is not a gesture model of this tinyml: it takes %d inputs and gives %d outputs, "
                         "where the gesture app computes %d features (models trained before the log "
                         "features took 30): retrain it with `tinyml train gesture`"
                         % (model, len(m.input), len(m.output), FEATURES))
    names = class_names(n=len(m.output))
    names_line = ("CLASSES " + " ".join(names) + "\n").encode()
    imu = sensors.imu()
    led = hal.led()
    state = {"led": True, "next": None}
    link = apps.link(telemetry, "tinyml-gesture")
    if link:
        def command(name, arg):
            if name == "rate":
                raise ValueError("the gesture app sends one frame per classification, %d per second"
                                 % (RATE_HZ // HOP))
            if name == "led":
                state["led"] = arg == "on"
            elif name == "app" and arg != "gesture":
                state["next"] = apps.switchable(arg)

        link.on_command(command)
    scale = (1 / imu.ACCEL_LSB_PER_G,) * 3 + (1 / (imu.GYRO_LSB_PER_DPS * GYRO_UNIT_DPS),) * 3
    ring = array("h", bytes(2 * CHANNELS * WINDOW))
    sample = array("h", bytes(2 * CHANNELS))
    feats = array("f", bytes(4 * FEATURES))
    head = seen = done = 0
    was_connected = False
    n = len(m.output)
    if verbose:
        print("gesture app on %s, backend %s, classes %s" % (hal.board_name(), m.backend, " ".join(names)))
    wait = hal.wait_kind(bool(link), sleep)   # between samples: the deepest wait allowed
    hal.reset_power_stats()
    due = clock.ticks_ms()
    while not inferences or done < inferences:
        imu.read_into(sample)
        head = apps.push_sample(ring, head, sample, WINDOW)
        seen += 1
        if seen >= WINDOW and (seen - WINDOW) % HOP == 0:
            features(ring, head, scale, feats)
            for i in range(len(feats)):
                m.input[i] = m.quantize(feats[i])
            m.invoke()
            scores = m.output_values()
            best = 0
            for i in range(1, n):
                if scores[i] > scores[best]:
                    best = i
            led.duty_u16((best + 1) * 65535 // n if state["led"] else 0)
            if verbose:
                print("class=%s score=%.3f" % (names[best], scores[best]))
            if link:
                connected = link.connected
                if connected and (not was_connected or done % CLASSES_EVERY == 0):
                    link.send_line(names_line)
                was_connected = connected
                link.send((best, scores[best]))
            done += 1
        if link:
            link.poll()
            if state["next"]:
                return apps.Switch(state["next"], link)
        if period_ms:
            due = apps.pace(due, period_ms, wait)
