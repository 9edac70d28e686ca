"""Telemetry's MicroPython BLE backends (ubluepy on the nrf port, `bluetooth` on ESP32 and the
Pico W family) in the real `micropython` binary against fakes of those modules' exact API
(tests/device/fakes/ubluepy.py, bluetooth.py), and the backend each board and firmware gets.
Expected frames are built here from docs/telemetry.md, not by the code under test."""

import ast
import errno
import json
import random
import struct
from pathlib import Path

import pytest

from adverts import NAMES, check_name_fields
from mpy import ROOT, lines_with, run

FAKES = Path(__file__).parent / "fakes"
NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_SERVICE_LE = bytes.fromhex(NUS_SERVICE.replace("-", ""))[::-1]   # as it goes over the air
COMMAND_HELP = {"rate": "rate N: frames per second, 1..100", "led": "led on|off", "app": "app sine|motion|gesture|record"}

# Per backend: how the central side is driven, in the fake's terms. Every snippet defines the
# same helpers: make(name, binary) (in script()), connect() (connect, enable notifications and
# write the command `listening`, which the board's next poll() reads: what tinyml monitor and
# the web page do), subscribe(on), tell() (the command and the poll), disconnect(),
# write(data), tx_all() (what the central received), tx() (the same less "OK listening"
# replies, such as the one to connect()'s command), adverts(), fail(on). "bluetooth" is the NimBLE binding (ESP32), "bluetooth-btstack"
# the Pico W's; the btstack backend reads the CCCD at most every CCCD_CHECK_MS of its clock,
# which these snippets drive by hand (settle() lets that time pass).
BACKENDS = {
    "ubluepy": """
import ubluepy as fake
from tinyml.telemetry import _ubluepy as backend
def settle():
    pass
def subscribe(on=True):
    fake.subscribe(NUS_TX, on)
def connect():
    fake.connect(0)
    subscribe()
    tell()
def disconnect():
    fake.disconnect()
def write(data):
    fake.write(fake.handle_of(NUS_RX), data)
def tx_all():
    h = fake.handle_of(NUS_TX)
    return [e[2] for e in fake.log if e[0] == 'notify' and e[1] == h]
def tx():
    return [n for n in tx_all() if n != b'OK listening\\n']
def adverts():
    return [e[2] for e in fake.log if e[0] == 'advertise' and e[1] == '']   # data= ones, not the GAP name's
def fail(on):
    fake.notify_error = 0x13 if on else None
""",
    "bluetooth": """
import bluetooth as fake
from tinyml.telemetry import _bluetooth as backend
def settle():
    pass
def subscribe(on=True):
    fake.subscribe(fake.handle_of(NUS_TX), on)
def connect():
    fake.connect(0)
    subscribe()
    tell()
def disconnect():
    fake.disconnect(0)
def write(data):
    fake.write(fake.handle_of(NUS_RX), data)
def tx_all():
    h = fake.handle_of(NUS_TX)
    return [e[3] for e in fake.received if e[2] == h]
def tx():
    return [n for n in tx_all() if n != b'OK listening\\n']
def adverts():
    return [(e[2], e[3]) for e in fake.log if e[0] == 'advertise']
def fail(on):
    fake.notify_error = 12 if on else None   # ENOMEM: NimBLE has no buffer for it
""",
}
BACKENDS["bluetooth-btstack"] = BACKENDS["bluetooth"].replace("""def settle():
    pass
def subscribe(on=True):
    fake.subscribe(fake.handle_of(NUS_TX), on)
""", """fake.stack = 'btstack'
clock = [0]
backend.ticks_ms = lambda: clock[0]
def settle():
    clock[0] += backend.CCCD_CHECK_MS
def subscribe(on=True):
    fake.subscribe(fake.handle_of(NUS_TX), on)
    settle()
""").replace("ENOMEM: NimBLE has", "ENOMEM: btstack has")


def script(backend, body):
    return f"""
import sys
sys.path.insert(0, {str(FAKES)!r})
from tinyml.telemetry import Telemetry, NUS_RX, NUS_TX
{BACKENDS[backend]}
made = []
def make(name='tinyml-sine', binary=False):
    link = backend.Link(name)
    made.append(Telemetry(link, binary))
    return made[-1]
def tell():
    write(b'listening\\n')
    made[-1].poll()
{body}
"""


def text_frame(seq, values):
    return ("%d," % seq + ",".join("%.4g" % v for v in values) + "\n").encode()


def binary_frame(seq, values):
    return struct.pack("<BHB%df" % len(values), 0xA5, seq & 0xFFFF, len(values), *values)


def chunks(data):
    return [data[i:i + 20] for i in range(0, len(data), 20)]


def reply_lines(notifications):
    return b"".join(notifications).decode().splitlines()


def values(out, prefix):
    return [ast.literal_eval(v) for v in lines_with(prefix, out)]


@pytest.mark.parametrize("backend", ["ubluepy", "bluetooth"])
def test_advertising_carries_the_uuid_and_as_much_of_the_name_as_fits(backend):
    body = f"""
for name in {NAMES!r}:
    del fake.log[:]
    if hasattr(fake, 'reset'):
        fake.reset()
    make(name)
    print('ADV', adverts()[-1])
    print('LOG', [e[:2] for e in fake.log if e[0] in ('advertise', 'advertise_stop')])
    print('GAP', fake.BLE().config('gap_name') if hasattr(fake, 'BLE') else '')
"""
    out = run(script(backend, body))
    for name, adv, log, gap in zip(NAMES, values(out, "ADV"), values(out, "LOG"), lines_with("GAP", out)):
        if backend == "ubluepy":
            # no scan response in ubluepy; the complete name is only the GAP device name, set
            # by a first advertise(device_name=...) (name and flags: 26 bytes of name fit)
            check_name_fields(name, adv, None)
            gap_name = name.encode()[:26].decode("utf-8", "ignore")
            assert log == [("advertise_stop",), ("advertise", gap_name), ("advertise_stop",), ("advertise", "")]
        else:
            check_name_fields(name, *adv)
            assert gap == repr(name.encode())   # config(gap_name=): the whole name
    assert len(values(out, "ADV")) == len(NAMES)


def test_bluetooth_advertising_bytes_for_a_short_and_a_long_name():
    out = run(script("bluetooth", "make('tinyml')\nmake('tinyml-sine')\nprint('ADV', adverts())"))
    head = b"\x02\x01\x06" + b"\x11\x07" + NUS_SERVICE_LE
    # an empty scan response, not None: None would make gap_advertise reuse the previous one
    assert values(out, "ADV") == [[(head + b"\x07\x09tinyml", b""),
                                   (head + b"\x09\x08tinyml-s", b"\x0c\x09tinyml-sine")]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("binary", [False, True])
def test_frames_are_notified_in_20_byte_chunks_on_tx(backend, binary):
    frames = [(1.5, -2.25, 0.125, 40000), (0.0,), (3, -0.5), (100.3125, 7, -1e-3, 0.0625), (2.5, 2.5, 2.5)]
    body = f"""
t = make(binary={binary})
connect()
print('CONN', t.connected)
for v in {frames!r}:
    print('SENT', t.send(v))
print('TX', tx())
print('COUNT', (t.sent, t.dropped))
"""
    out = run(script(backend, body))
    assert values(out, "CONN") == [True] and values(out, "SENT") == [True] * len(frames)
    expected = []
    for seq, v in enumerate(frames, 1):
        expected += [binary_frame(seq, v)] if binary else chunks(text_frame(seq, v))
    assert values(out, "TX") == [expected]
    assert values(out, "COUNT") == [(len(frames), 0)]
    if binary:
        assert all(len(c) == 4 + 4 * len(v) for c, v in zip(expected, frames))


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_are_dropped_and_counted_while_disconnected_or_when_notify_fails(backend):
    body = """
t = make()
print('S', t.send((1,)))           # nobody connected
connect()
print('S', t.send((2,)))
fail(True)
print('S', t.send((3,)))           # the stack refuses: dropped, no exception
print('S', t.send((4,)))
fail(False)
print('S', t.send((5,)))
print('TX', tx())
print('COUNT', (t.seq, t.sent, t.dropped))
"""
    out = run(script(backend, body))
    assert lines_with("S", out) == ["False", "True", "False", "False", "True"]
    assert values(out, "TX") == [[text_frame(2, (2,)), text_frame(5, (5,))]]
    assert values(out, "COUNT") == [(5, 2, 3)]


@pytest.mark.parametrize("backend", ["ubluepy", "bluetooth-btstack"])
@pytest.mark.parametrize("binary", [False, True])
def test_a_central_listens_from_its_subscription_to_its_unsubscription_or_disconnect(backend, binary):
    body = f"""
t = make(binary={binary})
def show(what):
    print('S', what, t.connected, t.listening, t.send((len(what),)))
show('nobody')
fake.connect(0)
settle()
show('connected')                # notifications not enabled yet: dropped
subscribe()
show('subscribed')
subscribe(False)
show('unsubscribed')
subscribe()
show('again')
disconnect()
settle()
show('gone')
fake.connect(0)
settle()
show('back')                     # a new connection must subscribe again
subscribe()
show('back subscribed')
print('TX', tx())
print('COUNT', (t.seq, t.sent, t.dropped))
"""
    out = run(script(backend, body))
    assert lines_with("S", out) == ["nobody False False False", "connected True False False",
                                    "subscribed True True True", "unsubscribed True False False",
                                    "again True True True", "gone False False False", "back True False False",
                                    "back subscribed True True True"]
    frame = binary_frame if binary else text_frame
    assert values(out, "TX") == [[frame(seq, (n,)) for seq, n in ((3, 10), (5, 5), (8, 15))]]
    assert values(out, "COUNT") == [(8, 3, 5)]


def test_btstack_sees_the_cccd_within_its_check_time_and_clears_it_at_disconnect():
    body = """
t = make()
fake.connect(0)
fake.subscribe(fake.handle_of(NUS_TX))
print('S', t.send((1,)))           # 0 at connect, not read again yet
clock[0] += backend.CCCD_CHECK_MS - 1
print('S', t.send((2,)))
clock[0] += 1
print('S', t.send((3,)))           # read again: subscribed
print('KNOWN', t.link.subscription_known)
cccd = fake.handle_of(NUS_TX) + 1
print('CCCD', fake.BLE().gatts_read(cccd))
fake.disconnect(0)
print('CCCD', fake.BLE().gatts_read(cccd))   # btstack keeps it; the backend cleared it
fake.connect(0)
clock[0] += 10 * backend.CCCD_CHECK_MS
print('S', t.send((4,)))
print('COUNT', (t.sent, t.dropped))
"""
    out = run(script("bluetooth-btstack", body))
    assert lines_with("S", out) == ["False", "False", "True", "False"]
    assert values(out, "KNOWN") == [True]
    assert values(out, "CCCD") == [b"\x01\x00", b"\x00\x00"]
    assert values(out, "COUNT") == [(1, 3)]


NIMBLE_CLOCK = """
clock = [0]
backend.ticks_ms = lambda: clock[0]
events = []
handler = fake.BLE()._irq
def spy(event, data):
    events.append(event)
    handler(event, data)
fake.BLE().irq(spy)     # the IRQs the binding delivers, as the backend receives them
def air():
    return len([e for e in fake.log if e[0] == 'notify'])
"""


def test_nimble_listening_starts_at_the_command_and_ends_at_the_disconnect():
    # What the real NimBLE binding allows (fakes/bluetooth.py header): no IRQ for the CCCD
    # write, no gatts_db entry to read it from. So the central says it listens: after enabling
    # notifications it writes `listening` on RX (docs/telemetry.md, "Listening"). Nothing goes
    # on the air before that, and every notification that does reaches a subscribed central.
    body = """
t = make()
""" + NIMBLE_CLOCK + """
def show(what):
    print('S', what, t.connected, t.listening, t.send((len(what),)), air(), len(fake.received))
fake.connect(0)
print('KNOWN', t.link.subscription_known, fake.BLE().gatts_read(fake.handle_of(NUS_TX) + 1))
clock[0] += 1500
show('connected')                   # dropped: nobody has said anything
subscribe()
clock[0] += 500
show('subscribed')                  # the stack saw the CCCD write; the binding said nothing
print('IRQ', events)
tell()
show('told')                        # from the command's poll on: sent, and received
tell()
show('told again')                  # idempotent
subscribe(False)
show('unsubscribed')                # unseen on NimBLE: sent, counted, discarded by the central
disconnect()
show('gone')
fake.connect(0)
subscribe()
show('back')                        # a new connection must say it again
tell()
show('back told')
clock[0] += 60000
disconnect()
fake.connect(0)
show('back again')                  # the legacy wait counts from each connect
print('IRQ', events)
print('TX', tx())
print('COUNT', (t.seq, t.sent, t.dropped))
"""
    out = run(script("bluetooth", body))
    assert lines_with("KNOWN", out) == ["False b''"]
    assert lines_with("S", out) == [
        "connected True False False 0 0", "subscribed True False False 0 0",
        "told True True True 2 2",           # "OK listening" and the frame
        "told again True True True 4 4", "unsubscribed True True True 5 4",
        "gone False False False 5 4", "back True False False 5 4", "back told True True True 7 6",
        "back again True False False 7 6"]
    # the binding gave connect and RX write IRQs only: none for the CCCD writes (it has none)
    assert values(out, "IRQ") == [[1], [1, 3, 3, 2, 1, 3, 2, 1]]
    assert values(out, "TX") == [[text_frame(3, (4,)), text_frame(4, (10,)), text_frame(8, (9,))]]
    assert values(out, "COUNT") == [(9, 4, 5)]


def test_nimble_central_that_never_says_listening_listens_after_the_legacy_wait():
    # A phone app (Bluefruit Connect, nRF Connect) knows nothing of `listening`: after
    # LEGACY_LISTEN_MS from its connect it listens as every central did before the command, and
    # frames before its subscription go out, count as sent and are discarded (the old gap).
    body = """
t = make()
""" + NIMBLE_CLOCK + """
print('WAIT', backend.LEGACY_LISTEN_MS)
fake.connect(0)
clock[0] += backend.LEGACY_LISTEN_MS - 1
print('S', t.listening, t.send((1,)))
clock[0] += 1
print('S', t.listening, t.send((2,)))     # not subscribed yet: on the air, discarded
subscribe()
print('S', t.listening, t.send((3,)))
print('AIR', air())
print('TX', tx())
print('COUNT', (t.sent, t.dropped))
"""
    out = run(script("bluetooth", body))
    assert values(out, "WAIT") == [5000]
    assert lines_with("S", out) == ["False False", "True True", "True True"]
    assert values(out, "AIR") == [2] and values(out, "TX") == [[text_frame(3, (3,))]]
    assert values(out, "COUNT") == [(2, 1)]


@pytest.mark.parametrize("backend", ["ubluepy", "bluetooth-btstack"])
def test_where_the_stack_shows_the_cccd_it_decides_and_the_command_only_hastens_btstack(backend):
    # ubluepy reports the CCCD write itself, before the command (the central writes the CCCD
    # first); btstack shows it at its next read, which the command brings forward. A command
    # without a subscription starts nothing, and a CCCD write of 0 ends listening either way.
    body = """
t = make()
def show(what):
    print('S', what, t.listening, t.send((len(what),)))
fake.connect(0)
fake.subscribe(%s)
show('subscribed')                  # btstack: its CCCD not read again yet
tell()
show('told')                        # btstack: read at the command
subscribe(False)
show('unsubscribed')
tell()
show('told, not subscribed')
subscribe()
show('subscribed again')
disconnect()
fake.connect(0)
tell()
show('back, told, not subscribed')
print('COUNT', (t.seq, t.sent, t.dropped))
"""
    tx = "NUS_TX" if backend == "ubluepy" else "fake.handle_of(NUS_TX)"
    out = run(script(backend, body % tx))
    first = "True" if backend == "ubluepy" else "False"
    assert lines_with("S", out) == [f"subscribed {first} {first}", "told True True", "unsubscribed False False",
                                    "told, not subscribed False False", "subscribed again True True",
                                    "back, told, not subscribed False False"]
    assert values(out, "COUNT") == ([(6, 3, 3)] if backend == "ubluepy" else [(6, 2, 4)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_listening_is_a_command_of_its_own(backend):
    # answered "OK listening", not passed to the app; with an argument it is a usage error
    body = """
t = make()
got = []
t.on_command(lambda name, arg: got.append((name, arg)))
fake.connect(0)
subscribe()
for line in (b'listening\\n', b' listening \\r\\n', b'listening now\\n', b'listen\\n', b'led on\\n'):
    write(line)
    t.poll()
print('GOT', got)
print('TX', tx_all())
"""
    out = run(script(backend, body))
    assert values(out, "GOT") == [[("led", "on")]]
    replies = reply_lines(values(out, "TX")[0])
    assert replies[:3] == ["OK listening", "OK listening", "ERR usage: listening"]
    assert replies[3].startswith("ERR expected 'name argument'") and replies[4:] == ["OK led"]


def test_bluetooth_text_frame_cut_midway_leaves_its_part_on_a_line_of_its_own():
    # 2 notifications per frame; the stack takes one more, then has no buffers
    body = """
t = make()
connect()
fake.notify_budget = 1
print('S', t.send((1.5, -2.25, 0.125, 40000)))
fake.notify_budget = None
print('S', t.send((2.5,)))
print('TX', tx())
print('COUNT', (t.sent, t.dropped))
"""
    out = run(script("bluetooth", body))
    first = text_frame(1, (1.5, -2.25, 0.125, 40000))
    assert lines_with("S", out) == ["False", "True"]
    assert values(out, "TX") == [[first[:20], b"\n" + text_frame(2, (2.5,))]]
    assert values(out, "COUNT") == [(1, 1)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_rx_commands_reach_the_callback_and_get_replies(backend):
    body = """
t = make()
got = []
t.on_command(lambda name, arg: got.append((name, arg)))
connect()
write(b'rate 25\\n')
t.poll()
write(b'rate 5\\nled on\\napp x\\n')    # three commands in one 20-byte write
t.poll()
write(b'le')                           # a command split over two writes and two polls
t.poll()
write(b'd off\\n')
t.poll()
write(b'')
t.poll()
print('GOT', got)
print('TX', tx())
"""
    out = run(script(backend, body))
    assert values(out, "GOT") == [[("rate", 25), ("rate", 5), ("led", "on"), ("led", "off")]]
    assert reply_lines(values(out, "TX")[0]) == ["OK rate", "OK rate", "OK led", "ERR usage: app sine|motion|gesture|record",
                                                 "OK led"]


def expected_reply(line):
    """What docs/telemetry.md says the board answers to one RX line (without its newline)."""
    if len(line) > 64:
        return "ERR command too long"
    try:
        text = line.decode().strip()
    except UnicodeDecodeError:
        return "ERR command is not text"
    parts = text.split()
    if parts == ["listening"]:
        return "OK listening"
    if len(parts) != 2:
        return None  # some "ERR expected 'name argument', got ..." (repr differs between runtimes)
    name, arg = parts
    if name == "listening":
        return "ERR usage: listening"
    if name not in COMMAND_HELP:
        return None  # "ERR unknown command ..."
    if name == "rate":
        ok = arg.lstrip("+-").isdigit() and 1 <= int(arg) <= 100
    else:
        ok = arg in COMMAND_HELP[name].split()[1].split("|")
    return f"OK {name}" if ok else f"ERR usage: {COMMAND_HELP[name]}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_fuzzed_rx_gets_one_reply_per_line_and_never_crashes(backend):
    rng = random.Random(6)
    words = [b"rate", b"led", b"app", b"listening", b"on", b"off", b"sine", b"7", b"0", b"101", b"x", b" ", b"\t", b"\r"]
    stream = b"\xff\xfe\n" + b"\n" + b"rate 20" + b"\r\n" + b"x" * 100 + b"\n" + b"led on\n"
    for _ in range(300):
        r = rng.random()
        if r < 0.3:
            stream += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
        elif r < 0.9:
            stream += b" ".join(rng.choice(words) for _ in range(rng.randrange(0, 4)))
        else:
            stream += bytes(rng.randrange(32, 127) for _ in range(rng.randrange(60, 90)))  # overlong
        if rng.random() < 0.7:
            stream += b"\n"
    stream += b"\n"
    writes = []
    i = 0
    while i < len(stream):
        n = rng.randrange(0, 21)
        writes.append(stream[i:i + n])
        i += n
    body = f"""
t = make()
got = []
t.on_command(lambda name, arg: got.append(name))
connect()
for data in {writes!r}:
    write(data)
    t.poll()
print('TX', tx_all()[1:])     # after connect()'s "OK listening"
print('GOT', len(got))
"""
    out = run(script(backend, body))
    replies = reply_lines(values(out, "TX")[0])
    lines = stream.split(b"\n")[:-1]
    assert len(replies) == len(lines)
    for line, reply in zip(lines, replies):
        want = expected_reply(line)
        assert reply == want if want else reply.startswith("ERR "), (line, reply)
    # every OK but "OK listening" went through the app's callback
    assert values(out, "GOT") == [sum(r.startswith("OK ") and r != "OK listening" for r in replies)]
    assert "OK listening" in replies
    assert replies[:4] == ["ERR command is not text", "ERR expected 'name argument', got ''", "OK rate",
                           "ERR command too long"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_rx_overrun_between_polls_is_an_error_not_a_wrong_command(backend):
    # 140 bytes arrive before the app polls: more than the RX buffer holds (ubluepy: our
    # 128-byte ring, one slot free; bluetooth: the stack's 128-byte append buffer)
    body = """
t = make()
got = []
t.on_command(lambda name, arg: got.append((name, arg)))
connect()
for i in range(7):
    write(b'led on\\nrate 7\\nled of')
t.poll()
write(b'f\\nrate 9\\n')
t.poll()
print('GOT', got)
print('TX', tx())
"""
    out = run(script(backend, body))
    kept = (b"led on\nrate 7\nled of" * 7)[:127 if backend == "ubluepy" else 128]
    complete, partial = kept.rsplit(b"\n", 1)
    expected = [expected_reply(line) for line in complete.split(b"\n")]
    expected += ["ERR command too long", "OK rate"]   # the line cut by the overrun is refused
    replies = reply_lines(values(out, "TX")[0])
    assert len(replies) == len(expected)
    for want, reply in zip(expected, replies):
        assert reply == want if want else reply.startswith("ERR "), (want, reply)
    assert values(out, "GOT")[0][-1] == ("rate", 9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_disconnect_mid_stream_then_reconnect(backend):
    body = """
t = make()
connect()
for i in range(3):
    t.send((i,))
disconnect()
print('CONN', t.connected)
print('NADV', len(adverts()))      # advertising again, without a reset
for i in range(3, 5):
    t.send((i,))
connect()
t.send((5,))
print('TX', tx())
print('COUNT', (t.seq, t.sent, t.dropped))
"""
    out = run(script(backend, body))
    assert values(out, "CONN") == [False] and values(out, "NADV") == [2]
    assert values(out, "TX") == [[text_frame(s, (s - 1,)) for s in (1, 2, 3, 6)]]  # the receiver sees 4, 5 missing
    assert values(out, "COUNT") == [(6, 4, 2)]


def test_binary_seq_wraps_at_65536():
    body = """
t = make(binary=True)
connect()
t.seq = 65534
for v in (1.0, 2.0, 3.0):
    t.send((v,))
print('TX', tx())
"""
    out = run(script("bluetooth", body))
    assert values(out, "TX") == [[binary_frame(65535, (1.0,)), binary_frame(0, (2.0,)), binary_frame(1, (3.0,))]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_allocation_per_send(backend):
    # The fakes record nothing here (fake.record = False), so gc.mem_alloc() counts the backend
    # and Telemetry alone, as on a board where the notify call is C. The btstack backend's clock
    # (driven by hand, fakes' settle()) stands still here: its CCCD read, one 2-byte bytes
    # object at most every CCCD_CHECK_MS on a board, is not in these figures.
    body = """
import gc
before = 0                  # a global made inside the measurement could grow the globals dict
t = make()
b = Telemetry(t.link, binary=True)
connect()
fake.record = False
values = (1.5, -2.25, 0.125, 40000)
for i in range(20):
    b.send(values)
    t.send(values)
gc.collect()
before = gc.mem_alloc()
for i in range(500):
    b.send(values)
print('BINARY', gc.mem_alloc() - before)
gc.collect()
before = gc.mem_alloc()
for i in range(100):
    t.send(values)
print('TEXT', (gc.mem_alloc() - before) // 100)
print('SENT', (fake.notified, b.sent, t.sent, b.dropped + t.dropped))
"""
    out = run(script(backend, body))
    assert values(out, "BINARY") == [0]      # 500 binary frames, 0 bytes
    text = values(out, "TEXT")[0]
    # text frames format floats into new strings: measured 896 B per 4-value frame on the 64-bit
    # unix port (strings, the join, the encode, two memoryview chunks)
    assert 400 < text < 1200, text
    # notifications: connect()'s "OK listening", 20 binary and 20 text frames of 2 each, then 500 + 100 * 2
    assert values(out, "SENT") == [(1 + 20 + 20 * 2 + 500 + 200, 520, 120, 0)]


def test_ubluepy_rx_handler_copies_the_event_data():
    # the fake overwrites the event's bytearray after the handler returns, as the SoftDevice reuses it
    body = """
t = make()
got = []
t.on_command(lambda name, arg: got.append((name, arg)))
connect()
write(b'led off\\n')
write(b'rate 3\\n')
t.poll()
print('GOT', got)
"""
    out = run(script("ubluepy", body))
    assert values(out, "GOT") == [[("led", "off"), ("rate", 3)]]


def test_fakes_reject_misuse_as_the_real_modules_do():
    out = run(f"""
import sys
sys.path.insert(0, {str(FAKES)!r})
import ubluepy, bluetooth
def check(f):
    try:
        f()
        print('E', 'accepted')
    except Exception as e:
        print('E', type(e).__name__, e.args[0])
check(lambda: ubluepy.Service('6E400001-B5A3-F393-E0A9-E50E24DCCA9E'))
check(lambda: ubluepy.Characteristic(0x2A37))
check(lambda: ubluepy.UUID('0x2A3'))
s = ubluepy.Service(ubluepy.UUID({NUS_SERVICE!r}))
c = ubluepy.Characteristic(ubluepy.UUID({NUS_TX!r}), props=ubluepy.Characteristic.PROP_NOTIFY,
                           attrs=ubluepy.Characteristic.ATTR_CCCD)
s.addCharacteristic(c)
p = ubluepy.Peripheral()
p.addService(s)
p.advertise(device_name='tinyml', services=[s])
check(lambda: c.write(b'x'))                     # nobody connected
check(lambda: p.advertise(device_name='tinyml-sine', services=[s]))   # 34 bytes
check(lambda: p.advertise(device_name='tinyml', services=[s]))        # still advertising
ble = bluetooth.BLE()
check(lambda: ble.gap_advertise(100000, b'x'))   # not active
ble.active(True)
check(lambda: ble.gatts_register_services((({NUS_SERVICE!r}, ()),)))
check(lambda: ble.gatts_register_services(((bluetooth.UUID({NUS_SERVICE!r}), (({NUS_TX!r}, 16),)),)))
((tx,),) = ble.gatts_register_services(((bluetooth.UUID({NUS_SERVICE!r}), ((bluetooth.UUID({NUS_TX!r}), 16),)),))
check(lambda: ble.gatts_notify(0, tx, b'x'))     # not connected
check(lambda: ble.gap_advertise(100000, bytes(32)))
check(lambda: ble.gatts_write(tx + 1, b'\\x01\\x00'))   # NimBLE's CCCD has no gatts_db entry
print('E', 'read', ble.gatts_read(tx + 1))             # ...and gatts_read ignores that error
check(lambda: bluetooth.UUID('6E400001-B5A3-F393-E0A9'))
""")
    assert lines_with("E", out) == [
        "ValueError Invalid UUID parameter",
        "ValueError Invalid UUID parameter",
        "ValueError Invalid UUID string length",
        "OSError Can not notify attribute value. status: 0x3002",
        "OSError Can not apply advertisement data. status: 0x09",
        "OSError Can not apply advertisement data. status: 0x08",
        "OSError 19",
        "ValueError invalid service UUID",
        "ValueError invalid characteristic UUID",
        "OSError %d" % errno.ENOTCONN,
        "OSError %d" % errno.EINVAL,
        "OSError %d" % errno.EINVAL,
        "read b''",
        "ValueError UUID too short",
    ]


# Which BLE stack each board gets, per firmware (issue 6): boards.json's "ble" facts, spelled out.
EXPECTED_BACKEND = {
    ("nano33_ble_sense", "micropython"): "ubluepy",
    ("nano33_ble_sense_rev2", "micropython"): "ubluepy",
    ("esp32", "micropython"): "bluetooth",
    ("esp32s3", "micropython"): "bluetooth",
    ("pico", "micropython"): "ValueError: no BLE on pico",
    ("pico_w", "micropython"): "bluetooth",
    ("pico2_w", "micropython"): "bluetooth",
    ("nano33_ble_sense", "circuitpython"): "adafruit_ble",
    ("nano33_ble_sense_rev2", "circuitpython"): "adafruit_ble",
    ("esp32", "circuitpython"): "ValueError: no BLE on esp32 with circuitpython (boards.json)",
    ("esp32s3", "circuitpython"): "ValueError: no BLE on esp32s3 with circuitpython (boards.json)",
    ("pico", "circuitpython"): "ValueError: no BLE on pico",
    ("pico_w", "circuitpython"): "ValueError: no BLE on pico_w with circuitpython (boards.json)",
    ("pico2_w", "circuitpython"): "ValueError: no BLE on pico2_w with circuitpython (boards.json)",
}


def test_every_board_gets_its_backend_per_firmware():
    boards = sorted(json.loads((ROOT / "boards.json").read_text())["boards"])
    assert {b for b, _ in EXPECTED_BACKEND} == set(boards) and len(boards) == 7
    out = run(f"""
from tinyml.telemetry import backend
for board in {boards!r}:
    for firmware in ('micropython', 'circuitpython'):
        try:
            print('B', board, firmware, backend(board, firmware))
        except ValueError as e:
            print('B', board, firmware, 'ValueError: %s' % e)
""")
    got = {tuple(line.split(" ", 2)[:2]): line.split(" ", 2)[2] for line in lines_with("B", out)}
    assert got == EXPECTED_BACKEND


@pytest.mark.parametrize("board, module", [("nano33_ble_sense", "_ubluepy"), ("esp32", "_bluetooth"),
                                           ("pico2_w", "_bluetooth"), ("pico", None)])
def test_start_opens_the_backend_of_the_board(board, module):
    # start() as on a board: the HAL says which board and firmware
    expected = f"import tinyml.telemetry.{module} as expected" if module else ""
    out = run(f"""
import sys
sys.path.insert(0, {str(FAKES)!r})
import tinyml
import tinyml.telemetry as telemetry
class FakeHal:
    PLATFORM = 'micropython'
    def board_id():
        return {board!r}
tinyml.hal = FakeHal
try:
    t = telemetry.start('tinyml', binary=True)
    {expected}
    print('L', t.link.__class__ is expected.Link, t.binary, t.connected)
    t2 = telemetry.open('again')
    print('O', t2.link.__class__ is expected.Link, t2.binary)
except ValueError as e:
    print('L', 'ValueError', e)
""")
    if module is None:
        assert lines_with("L", out) == ["ValueError no BLE on pico"]
    else:
        assert lines_with("L", out) == ["True True False"]


def test_nimble_listening_checks_allocate_nothing_per_frame():
    # listening() runs once per frame: on NimBLE without the command it compares ticks, which
    # must not allocate (the real ticks_ms here: small ints on the unix port, as on a board)
    body = """
import gc
before = 0
t = make(binary=True)
fake.connect(0)
subscribe()
t.link._connected_at -= backend.LEGACY_LISTEN_MS    # a central that never said `listening`
fake.record = False
values = (1.5, -2.25, 0.125, 40000)
for i in range(20):
    t.send(values)
gc.collect()
before = gc.mem_alloc()
for i in range(500):
    t.send(values)
print('LEGACY', gc.mem_alloc() - before, t.sent)
tell()
gc.collect()
before = gc.mem_alloc()
for i in range(500):
    t.send(values)
print('TOLD', gc.mem_alloc() - before, t.sent)
"""
    out = run(script("bluetooth", body))
    assert lines_with("LEGACY", out) == ["0 520"]   # every frame sent, 0 bytes for 500
    assert lines_with("TOLD", out) == ["0 1020"]
