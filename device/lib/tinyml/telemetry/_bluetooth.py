# NUS over MicroPython's `bluetooth` module (ESP32, ESP32-S3, Pico W, Pico 2 W), used directly
# rather than through aioble: nothing to install with mip, the apps' loops are synchronous,
# and the IRQ API can be tested against a fake (docs/telemetry.md, "Device backends").
# The IRQ handler allocates nothing: the stack appends RX writes into a fixed buffer
# (gatts_set_buffer(..., append=True)); the handler only notes that there is something to read.
#
# Subscription (the central writing TX's CCCD) reaches Python on neither stack as an event:
# - btstack (Pico W, Pico 2 W) keeps the CCCD in its attribute table at TX's value handle + 1
#   and gives no IRQ for it (extmod/btstack/modbluetooth_btstack.c, att_write_callback:
#   "Suppress the Python callback for writes to the CCCD"); gatts_read(tx + 1) returns its
#   2 bytes. The value is not per connection and survives a disconnect (same file,
#   mp_bluetooth_gatts_write: "TODO: These should be per-connection"), so we clear it.
# - NimBLE (ESP32, the unix port) handles the CCCD itself: no table entry (modbluetooth_nimble.c,
#   gatts_register_cb: "This is event is not called for the CCCD"), BLE_GAP_EVENT_SUBSCRIBE
#   only logged, so gatts_read(tx + 1) returns b"" (modbluetooth.c's gatts_read ignores the
#   error). Nothing tells Python about a subscription: there a central listens from its RX
#   command `listening`, which tinyml's centrals write right after enabling notifications, or,
#   for a central that never sends it (a phone app), from LEGACY_LISTEN_MS after its connect.
# On btstack the command makes us read the CCCD at once rather than at the next check.
# Neither stack checks the CCCD before gatts_notify (NimBLE's ble_gattc_notify_custom, btstack's
# att_server_notify send regardless), so the check is ours.
from micropython import const
from time import ticks_diff, ticks_ms

import bluetooth

from tinyml.telemetry import NUS_RX, NUS_SERVICE, NUS_TX, SETTINGS, advertising_payloads

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_FLAG_WRITE_NO_RESPONSE = const(0x0004)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_RX_BUFFER = const(128)   # RX bytes the stack holds between two polls; more are dropped by it
_CCCD_NOTIFY = const(1)   # bit 0 of the CCCD's first byte: notifications enabled
_CCCD_OFF = b"\x00\x00"
# btstack: how often the CCCD is read again. gatts_read allocates a bytes object, so it is read
# at most this often rather than per frame: a subscription is seen within this time (frames in
# between are dropped and counted), and so is an unsubscription (frames in between are counted
# as sent). A disconnect is an IRQ and takes effect at once.
CCCD_CHECK_MS = 250
# NimBLE: a central that has not sent `listening` this long after its connect (Bluefruit
# Connect, nRF Connect: they know nothing of it) listens from then on, as every central did
# before the command: frames go out, and those before its subscription count as sent though it
# discards them. tinyml monitor and the web page send the command well within this time.
LEGACY_LISTEN_MS = 5000


class Link:
    def __init__(self, name):
        self.name = name
        self._adv, self._resp = advertising_payloads(name)   # ValueError for a bad name first
        self._ble = bluetooth.BLE()
        self._ble.active(True)
        self._ble.config(gap_name=name)
        self._ble.irq(self._irq)
        self._ble.gap_advertise(None)   # a second start(): services are registered while not advertising
        ((self._tx, self._rx),) = self._ble.gatts_register_services((
            (bluetooth.UUID(NUS_SERVICE), (
                (bluetooth.UUID(NUS_TX), _FLAG_NOTIFY),
                (bluetooth.UUID(NUS_RX), _FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE),
            )),
        ))
        self._ble.gatts_set_buffer(self._rx, _RX_BUFFER, True)
        # the CCCD follows TX's value handle on both stacks; only btstack lets us read it
        self._cccd = self._tx + 1
        self.subscription_known = len(self._ble.gatts_read(self._cccd)) == 2
        self._conn = None
        self._subscribed = False    # NimBLE: the command came; btstack: the CCCD at the last read
        self._connected_at = 0
        self._checked_at = 0
        self._rx_pending = False
        self.overrun = False
        self._advertise()

    def _advertise(self):
        # SETTINGS["adv_interval_ms"]: fewer advertising events, less radio time (docs/telemetry.md)
        self._ble.gap_advertise(SETTINGS["adv_interval_ms"] * 1000, self._adv, resp_data=self._resp)

    def _irq(self, event, data):
        if event == _IRQ_GATTS_WRITE:
            if data[1] == self._rx:
                self._rx_pending = True
        elif event == _IRQ_CENTRAL_CONNECT:
            self._conn = data[0]
            self._subscribed = False
            self._connected_at = self._checked_at = ticks_ms()
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self._conn:
                self._conn = None
                self._subscribed = False
                if self.subscription_known:
                    # the next central must subscribe again, as the BLE spec says for an unbonded one
                    self._ble.gatts_write(self._cccd, _CCCD_OFF)
            self._advertise()   # reconnect without a reset

    def connected(self):
        return self._conn is not None

    def listening(self):
        if self._conn is None:
            return False
        if not self.subscription_known:
            # NimBLE: the command, or a central that has not sent it in LEGACY_LISTEN_MS
            return self._subscribed or ticks_diff(ticks_ms(), self._connected_at) >= LEGACY_LISTEN_MS
        now = ticks_ms()
        if ticks_diff(now, self._checked_at) >= CCCD_CHECK_MS:
            self._read_cccd(now)
        return self._subscribed

    def _read_cccd(self, now):
        self._checked_at = now
        self._subscribed = self._ble.gatts_read(self._cccd)[0] & _CCCD_NOTIFY != 0

    def listening_command(self):
        """The central sent `listening` after enabling notifications. NimBLE: it listens from
        now until it disconnects (its unsubscription is as invisible as its subscription).
        btstack: read the CCCD now, not up to CCCD_CHECK_MS later (once per command, not per
        frame); the CCCD still decides, so an unsubscription ends it."""
        if self._conn is None:
            return
        if self.subscription_known:
            self._read_cccd(ticks_ms())
        else:
            self._subscribed = True

    def notify(self, chunk):
        if not self.listening():
            return False
        try:
            self._ble.gatts_notify(self._conn, self._tx, chunk)
        except OSError:
            # ENOMEM (NimBLE out of buffers), ENOTCONN (the central just left): drop
            return False
        return True

    def read(self):
        if not self._rx_pending:
            return None
        self._rx_pending = False
        data = self._ble.gatts_read(self._rx)   # returns and clears what the stack appended
        if len(data) >= _RX_BUFFER:
            self.overrun = True     # full: the stack may have dropped what came after
        return data
