# NUS over MicroPython's nrf-port `ubluepy` (the Nano 33 BLE Sense has no `bluetooth`).
# ubluepy calls the connection handler from the SoftDevice's event interrupt with
# (event, handle, data): data is a bytearray over the event's memory, valid during the call.
# The handler allocates nothing: it copies RX bytes into a fixed ring that poll() drains.
# A central listens from its write of TX's CCCD: ble_drv.c passes every BLE_GATTS_EVT_WRITE to
# the handler with the attribute's handle, the CCCD's included, and the SoftDevice clears the
# CCCD with each new connection (BLE_GATTS_EVT_SYS_ATTR_MISSING -> sys_attr_set(NULL)).
from micropython import const
from ubluepy import UUID, Characteristic, Peripheral, Service, constants

from tinyml.telemetry import NUS_RX, NUS_SERVICE, NUS_TX, advertising_payloads, fit_name

_RING = const(128)     # RX bytes buffered between two polls (one slot stays free)
# ble_drv.c has no scan response (scan_rsp_data NULL). advertise(data=...) alone sends exactly
# those bytes (copied to the start of an empty packet), so the packet is ours: flags, the NUS
# UUID and as much of the name as fits (advertising_payloads). The GAP device name, which a
# central reads after connecting, is only set by advertise(device_name=...), whose packet holds
# the name (2 + n bytes) and the flags (3): 26 bytes of it.
GAP_NAME_MAX = const(26)
_CONNECTED = constants.EVT_GAP_CONNECTED
_DISCONNECTED = constants.EVT_GAP_DISCONNECTED
_WRITE = constants.EVT_GATTS_WRITE


def value_handle(characteristic):
    """The attribute handle of a characteristic's value. ubluepy compiles getHandle() out
    (#if 0 in ubluepy_characteristic.c); its repr prints "Characteristic(handle: 0x0d, ...)"."""
    get = getattr(characteristic, "getHandle", None)
    if get:
        return get()
    text = repr(characteristic)
    start = text.index("handle: 0x") + 10
    return int(text[start:text.index(",", start)], 16)


class Link:
    def __init__(self, name):
        self.name = name
        self._adv = advertising_payloads(name)[0]
        self._service = Service(UUID(NUS_SERVICE))
        self._rx = Characteristic(UUID(NUS_RX), props=Characteristic.PROP_WRITE | Characteristic.PROP_WRITE_WO_RESP)
        self._tx = Characteristic(UUID(NUS_TX), props=Characteristic.PROP_NOTIFY, attrs=Characteristic.ATTR_CCCD)
        self._service.addCharacteristic(self._rx)
        self._service.addCharacteristic(self._tx)
        self._periph = Peripheral()
        self._periph.addService(self._service)
        self._rx_handle = value_handle(self._rx)
        self._ring = bytearray(_RING)
        self._head = 0          # written by the handler only
        self._tail = 0          # written by read() only
        self.overrun = False
        self._connected = False
        self._subscribed = False
        self._periph.setConnectionHandler(self._event)
        # the SoftDevice refuses to reconfigure a running advertisement (sd_ble_gap_adv_set_configure:
        # NRF_ERROR_INVALID_STATE) and ble_drv.c configures before it stops, so stop first (a
        # no-op unless advertising: a second start(), or between the two calls here)
        self._periph.advertise_stop()
        self._periph.advertise(device_name=fit_name(name, GAP_NAME_MAX)[0])
        self._periph.advertise_stop()
        self._advertise()

    def _advertise(self):
        self._periph.advertise(data=self._adv)

    def _event(self, event, handle, data):
        if event == _WRITE:
            if handle == self._rx_handle:
                self._receive(data)
            elif data is not None and len(data) >= 1:
                # the only other writable attribute is TX's CCCD: bit 0 enables notifications
                self._subscribed = data[0] & 1 == 1
        elif event == _CONNECTED:
            self._connected = True
        elif event == _DISCONNECTED:
            self._connected = False
            self._subscribed = False
            self._advertise()   # reconnect without a reset, as ubluepy's own examples do

    def _receive(self, data):
        head = self._head
        tail = self._tail
        for b in data:
            nxt = head + 1
            if nxt == _RING:
                nxt = 0
            if nxt == tail:
                self.overrun = True
                break
            self._ring[head] = b
            head = nxt
        self._head = head

    def connected(self):
        return self._connected

    def listening(self):
        return self._connected and self._subscribed

    def notify(self, chunk):
        if not (self._connected and self._subscribed):
            return False
        try:
            self._tx.write(chunk)
        except OSError:
            return False
        return True

    def read(self):
        head = self._head
        tail = self._tail
        if head == tail:
            return None
        if head > tail:
            data = bytes(self._ring[tail:head])
        else:
            data = bytes(self._ring[tail:]) + bytes(self._ring[:head])
        self._tail = head
        return data
