# NUS over MicroPython's `bluetooth` module (ESP32, ESP32-S3, Pico W, Pico 2 W), used directly
# rather than through aioble: nothing to install with mip, the apps' loops are synchronous,
# and the IRQ API can be tested against a fake (docs/telemetry.md, "Device backends").
# The IRQ handler allocates nothing: the stack appends RX writes into a fixed buffer
# (gatts_set_buffer(..., append=True)); the handler only notes that there is something to read.
import binascii

import bluetooth
from micropython import const

from tinyml.telemetry import NUS_RX, NUS_SERVICE, NUS_TX, SETTINGS

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_FLAG_WRITE_NO_RESPONSE = const(0x0004)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_RX_BUFFER = const(128)   # RX bytes the stack holds between two polls; more are dropped by it
NAME_MAX = const(29)      # the name goes alone in the scan response: 31 - 2 bytes of header


def advertising_payloads(name):
    """(advertising data, scan response): flags and the NUS service UUID, then the name."""
    uuid = bytes(reversed(binascii.unhexlify(NUS_SERVICE.replace("-", ""))))
    adv = b"\x02\x01\x06" + bytes((len(uuid) + 1, 0x07)) + uuid
    encoded = name.encode()[:NAME_MAX]
    return adv, bytes((len(encoded) + 1, 0x09)) + encoded


class Link:
    def __init__(self, name):
        self.name = name
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
        self._adv, self._resp = advertising_payloads(name)
        self._conn = None
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
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self._conn:
                self._conn = None
            self._advertise()   # reconnect without a reset

    def connected(self):
        return self._conn is not None

    def notify(self, chunk):
        conn = self._conn
        if conn is None:
            return False
        try:
            self._ble.gatts_notify(conn, self._tx, chunk)
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
