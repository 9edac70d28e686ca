# Keyword spotting: the microphone streams into the model's own front end hop by hop (the one
# recorded in the .tmdl, bit-exact with what training computed), the model runs every EVERY hops
# on the last second of features, and its scores are averaged over AVERAGE_MS; a keyword whose
# average passes THRESHOLD, and that was not just heard, is a detection (as TFLite Micro's
# micro_speech recognizer decides). A detection lights the LED (brightness by keyword), prints,
# and goes over telemetry as "seq,class,score" with the CLASSES line naming the classes, so
# `tinyml monitor` and the phone page show the keyword. Labels come from the model file
# (`tinyml export --labels`, or training) or kws.classes beside it; classes named silence,
# unknown or starting with "_" are never detections.
from array import array

import tinyml
from tinyml import apps, clock, features, hal

MODEL = "kws.tmdl"
CLASSES = "kws.classes"
EVERY = 2             # hops between inferences (a 20 ms hop: 25 inferences a second)
AVERAGE_MS = 1000     # scores averaged over this long
THRESHOLD = 200       # average score (0..255, the int8 score + 128) that makes a detection
SUPPRESS_MS = 1500    # the same keyword again within this long is the same detection
MIN_COUNT = 3         # inferences the average needs before it counts
LED_MS = 1000         # how long the LED shows a detection
CLASSES_EVERY = 25    # inferences between repeats of the CLASSES line
QUIET = ("silence", "unknown")


class Recognizer:
    """Average each class's score over the last AVERAGE_MS of inferences and decide detections.
    Scores are int8 (the model's output); nothing is allocated per update."""

    def __init__(self, n_classes, every_ms, names):
        self.n = n_classes
        self.depth = max(MIN_COUNT, AVERAGE_MS // every_ms)
        self.history = array("h", bytes(2 * self.depth * n_classes))
        self.sums = array("i", bytes(4 * n_classes))
        self.count = 0
        self.at = 0
        self.keyword = bytearray(n_classes)
        for i in range(n_classes):
            name = names[i]
            self.keyword[i] = not (name in QUIET or name.startswith("_"))
        self.last = -1
        self.last_ms = 0
        self.best = 0
        self.score = 0

    def update(self, scores, now_ms):
        """Take one inference's int8 scores; return the class detected now, or -1."""
        row = self.at * self.n
        for i in range(self.n):
            v = scores[i] + 128
            self.sums[i] += v - self.history[row + i]
            self.history[row + i] = v
        self.at = (self.at + 1) % self.depth
        if self.count < self.depth:
            self.count += 1
        best = 0
        for i in range(1, self.n):
            if self.sums[i] > self.sums[best]:
                best = i
        self.best = best
        self.score = self.sums[best] // self.count
        if self.count < MIN_COUNT or self.score < THRESHOLD or not self.keyword[best]:
            return -1
        if best == self.last and clock.ticks_diff(now_ms, self.last_ms) < SUPPRESS_MS:
            return -1
        self.last = best
        self.last_ms = now_ms
        return best


def _names(m, n):
    if m.labels:
        return m.labels
    from tinyml.apps.gesture import class_names

    return class_names(CLASSES, n)


def run(inferences=0, verbose=False, model=MODEL, telemetry=False, every=EVERY, sleep="auto", detections=0):
    """Listen forever (inferences=0), or for that many inferences, or until `detections` keywords
    were heard; print detections if verbose. With telemetry (True, "serial" or a link to keep)
    send "seq,class,score" per detection and the CLASSES line; RX: led on|off, app NAME."""
    m = tinyml.load(apps.model_path(model))
    record = m.frontend_config()
    if record is None:
        raise ValueError("%s has no front end: export it with `tinyml export --frontend micro` or train it with "
                         "`tinyml train kws`" % model)
    config, thresholds = features.split_record(record)
    fe = features.Frontend(config)
    channels = fe.num_channels
    frames = len(m.input) // channels
    if frames * channels != len(m.input) or frames < 1:
        raise ValueError("%s takes %d inputs, not a whole number of %d-channel frames" % (model, len(m.input), channels))
    n = len(m.output)
    names = _names(m, n)
    names_line = ("CLASSES " + " ".join(names) + "\n").encode()
    hop = fe.ints[1]   # samples per hop (window_step at 16 kHz)
    mic = hal.microphone(block=hop)
    block = array("h", bytes(2 * hop))
    ring = array("b", bytes(frames * channels))   # the last `frames` frames, oldest at slot `head`
    head = 0
    seen = 0
    recognizer = Recognizer(n, every * hop // 16, names)
    led = hal.led()
    state = {"led": True, "next": None}
    link = apps.link(telemetry, "tinyml-kws")
    if link:
        def command(name, arg):
            if name == "led":
                state["led"] = arg == "on"
            elif name == "app" and arg != "kws":
                state["next"] = apps.switchable(arg)
            else:
                raise ValueError("the kws app takes: led on|off, app NAME")

        link.on_command(command)
    if verbose:
        print("kws app on %s, backend %s, %d frames of %d channels, classes %s"
              % (hal.board_name(), m.backend, frames, channels, " ".join(names)))
    done = heard = 0
    lit_until = None
    was_connected = False
    inp = m.input
    out = m.output
    mic.start()
    try:
        while (not inferences or done < inferences) and (not detections or heard < detections):
            mic.readinto(block)
            at = 0
            while at < hop:
                at += fe.push(block, at, hop)
                if not fe.ready:
                    continue
                features.to_int8(fe.frame, thresholds, ring, head * channels)
                head = (head + 1) % frames
                seen += 1
                if seen < frames or (seen - frames) % every:
                    continue
                k = head * channels   # oldest frame first, as the model was trained
                size = frames * channels
                for i in range(size):
                    inp[i] = ring[k]
                    k += 1
                    if k == size:
                        k = 0
                m.invoke()
                done += 1
                now = clock.ticks_ms()
                found = recognizer.update(out, now)
                if found >= 0:
                    heard += 1
                    led.duty_u16((found + 1) * 65535 // n if state["led"] else 0)
                    lit_until = clock.ticks_add(now, LED_MS)
                    if verbose:
                        print("heard %s (score %d, %d lost blocks)" % (names[found], recognizer.score, mic.lost))
                    if link:
                        link.send((found, recognizer.score / 255))
                elif lit_until is not None and clock.ticks_diff(now, lit_until) >= 0:
                    led.duty_u16(0)
                    lit_until = None
                if link:
                    connected = link.connected
                    if connected and (not was_connected or done % CLASSES_EVERY == 0):
                        link.send_line(names_line)
                    was_connected = connected
            if link:
                link.poll()
                if state["next"]:
                    return apps.Switch(state["next"], link)
    finally:
        mic.stop()
    return heard
