# Gesture: read the IMU at 50 Hz, every HOP samples classify the last WINDOW with the model
# `tinyml train gesture` made from your recordings, set the LED brightness by class
# (class i of n: (i + 1) / n of full) and stream "seq,class,score" over telemetry.
# Features, as host/tinyml_host/gesture.py computes them: per channel (accel in g, gyro in
# 100 deg/s) mean, standard deviation, minimum, maximum, mean absolute change; 30 numbers.
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
CHANNELS = 6
STATS = 5


def class_names(path=CLASSES, n=0):
    try:
        with open(path) as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError:
        names = []
    return names if len(names) == n else ["class%d" % i for i in range(n)]


def features(ring, head, scale, out):
    """ring: array('h') of WINDOW * CHANNELS raw counts, oldest sample at `head`; scale: units
    per count, per channel. Writes the 30 features into `out`, statistic-major: means, standard
    deviations, minima, maxima, mean absolute changes. The deviation takes a second pass over
    the window: E[x^2] - mean^2 loses the small variance of a still board in float32."""
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
        out[CHANNELS + c] = math.sqrt(squares / WINDOW) * s
        out[2 * CHANNELS + c] = lo * s
        out[3 * CHANNELS + c] = hi * s
        out[4 * CHANNELS + c] = change / (WINDOW - 1) * s


def run(inferences=0, verbose=False, period_ms=1000 // RATE_HZ, model=MODEL, telemetry=False, sleep="auto"):
    """Classify forever (inferences=0) or that many times; print the class if verbose. With
    telemetry (True, "serial" or a link to keep) stream "seq,class,score"; RX: led on|off, app NAME."""
    m = tinyml.load(model)
    if len(m.input) != STATS * CHANNELS or len(m.output) < 2:
        raise ValueError("%s is not a gesture model: it takes %d inputs and gives %d outputs"
                         % (model, len(m.input), len(m.output)))
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
    feats = array("f", bytes(4 * STATS * CHANNELS))
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
