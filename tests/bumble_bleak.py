"""The part of bleak's API that tinyml's host uses (monitor/transports.py BleTransport), on a
Bumble central in the virtual air (tests/bumble_air.py): bleak itself needs BlueZ over D-Bus on
Linux. Signatures and behaviour follow bleak 3 (bleak/__init__.py):

- BleakScanner.find_device_by_name / find_device_by_address / find_device_by_filter: scan
  (LE scanning through the central's controller) until an advertisement matches, a BLEDevice
  (bleak's own class; `details` holds Bumble's Advertisement) or None after `timeout`;
- BleakClient(device_or_address, disconnected_callback=None): connect (HCI LE Create
  Connection, then GATT discovery of services, characteristics and descriptors), is_connected,
  mtu_size, services.get_characteristic(uuid), start_notify(uuid, callback(char, bytearray))
  (writes the CCCD), write_gatt_char(uuid, data, response), disconnect, async with;
  disconnected_callback(client) on any disconnect, as bleak calls it.

`exchange_mtu`: the ATT MTU the central asks for right after connecting, as BlueZ and
CoreBluetooth do on their own (None: no exchange, the MTU stays 23). Callbacks run in the
caller's loop, in the order the stack delivered them.

    bleak = bumble_bleak.central(air)
    transport = monitor.open_transport(ble="tinyml", bleak=bleak)
"""

from __future__ import annotations

import asyncio
import time
import types

from bleak.backends.device import BLEDevice
from bumble.core import AdvertisingData
from bumble.device import Peer
from bumble.gatt import Characteristic
from bumble.hci import Address

CENTRAL_ADDRESS = "C0:00:00:00:00:01"
_PROPERTIES = [(Characteristic.Properties.READ, "read"),
               (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
               (Characteristic.Properties.WRITE, "write"),
               (Characteristic.Properties.NOTIFY, "notify"),
               (Characteristic.Properties.INDICATE, "indicate")]


class BleakError(Exception):
    """As bleak.exc.BleakError: not connected, characteristic not found."""


def _uuid(text) -> str:
    return str(text).lower()


class GattCharacteristic:
    """bleak's BleakGATTCharacteristic: uuid (lowercase), handle, properties (bleak's names)."""

    def __init__(self, proxy, mtu: int):
        self.proxy = proxy
        self.uuid = _uuid(proxy.uuid.to_hex_str("-"))
        self.handle = proxy.handle
        self.properties = [name for flag, name in _PROPERTIES if proxy.properties & flag]
        self.max_write_without_response_size = mtu - 3


class GattServices:
    def __init__(self, characteristics: list[GattCharacteristic]):
        self.characteristics = {c.handle: c for c in characteristics}

    def get_characteristic(self, specifier) -> GattCharacteristic | None:
        if isinstance(specifier, GattCharacteristic):
            return specifier
        if isinstance(specifier, int):
            return self.characteristics.get(specifier)
        found = [c for c in self.characteristics.values() if c.uuid == _uuid(specifier)]
        if len(found) > 1:
            raise BleakError(f"more than one characteristic with UUID {specifier}")
        return found[0] if found else None


class AdvertisementData:
    """bleak's AdvertisementData, the fields a filter reads."""

    def __init__(self, advertisement):
        data = advertisement.data
        names = (data.get_all(AdvertisingData.COMPLETE_LOCAL_NAME)
                 or data.get_all(AdvertisingData.SHORTENED_LOCAL_NAME))
        self.local_name = names[0] if names else None
        self.service_uuids = [_uuid(u.to_hex_str("-")) for kind in (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                                                                   AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                                                                   AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS)
                              for uuids in data.get_all(kind) for u in uuids]
        self.rssi = advertisement.rssi


def central(air, exchange_mtu: int | None = None, address: str = CENTRAL_ADDRESS) -> types.ModuleType:
    """A module with bleak's BleakScanner, BleakClient and BleakError on a new Bumble central."""
    device = air.run(air.add_device("central", address))
    # what the host asked for and what reached it, for the tests: scans, the ATT MTU of each
    # connection once set up, each notification value received, when (time.monotonic()) the host
    # began each hang-up of its own
    stats = types.SimpleNamespace(scans=[], mtus=[], received=[], hangups=[])

    class BleakScanner:
        @classmethod
        async def find_device_by_filter(cls, filterfunc, timeout: float = 10.0, **kwargs):
            return await air.call(cls._scan(filterfunc, timeout), timeout=timeout + 5)

        @classmethod
        async def find_device_by_name(cls, name: str, timeout: float = 10.0, **kwargs):
            stats.scans.append(("name", name, timeout))
            return await cls.find_device_by_filter(lambda d, ad: ad.local_name == name, timeout)

        @classmethod
        async def find_device_by_address(cls, device_identifier: str, timeout: float = 10.0, **kwargs):
            stats.scans.append(("address", device_identifier, timeout))
            wanted = device_identifier.lower()
            return await cls.find_device_by_filter(lambda d, ad: d.address.lower() == wanted, timeout)

        @staticmethod
        async def _scan(filterfunc, timeout):
            found = asyncio.get_running_loop().create_future()

            def on_advertisement(advertisement):
                ad = AdvertisementData(advertisement)
                ble_device = BLEDevice(advertisement.address.to_string(False), ad.local_name, advertisement)
                if not found.done() and filterfunc(ble_device, ad):
                    found.set_result(ble_device)

            device.on(device.EVENT_ADVERTISEMENT, on_advertisement)
            await device.start_scanning(active=True, filter_duplicates=False)
            try:
                return await asyncio.wait_for(found, timeout)
            except asyncio.TimeoutError:
                return None
            finally:
                device.remove_listener(device.EVENT_ADVERTISEMENT, on_advertisement)
                await device.stop_scanning()

    class BleakClient:
        def __init__(self, address_or_ble_device, disconnected_callback=None, services=None, *,
                     timeout: float = 30, **kwargs):
            target = address_or_ble_device
            self.address = target.address if isinstance(target, BLEDevice) else str(target)
            self._callback = disconnected_callback
            self._timeout = timeout
            self._connection = None
            self._peer = None
            self._services = None
            self._loop = None

        @property
        def is_connected(self) -> bool:
            return self._connection is not None

        @property
        def mtu_size(self) -> int:
            if self._connection is None:
                raise BleakError("Not connected")
            return self._connection.att_mtu

        @property
        def services(self) -> GattServices:
            if self._services is None:
                raise BleakError("Service Discovery has not been performed yet")
            return self._services

        async def connect(self, **kwargs):
            self._loop = asyncio.get_running_loop()
            self._connection, self._services = await air.call(self._connect(), timeout=self._timeout + 5)
            stats.mtus.append(self._connection.att_mtu)

        async def _connect(self):
            connection = await device.connect(Address(self.address), timeout=self._timeout)
            connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
            peer = self._peer = Peer(connection)
            if exchange_mtu is not None:
                await peer.request_mtu(exchange_mtu)
            await peer.discover_all()
            characteristics = [GattCharacteristic(c, connection.att_mtu)
                               for s in peer.services for c in s.characteristics]
            return connection, GattServices(characteristics)

        def _on_disconnection(self, reason):   # in the air's loop
            self._loop.call_soon_threadsafe(self._disconnected)

        def _disconnected(self):
            if self._connection is not None:
                self._connection = None
                if self._callback:
                    self._callback(self)

        def _characteristic(self, specifier) -> GattCharacteristic:
            if self._connection is None:
                raise BleakError("Not connected")
            char = self.services.get_characteristic(specifier)
            if char is None:
                raise BleakError(f"Characteristic {specifier} was not found!")
            return char

        async def start_notify(self, char_specifier, callback, **kwargs):
            char = self._characteristic(char_specifier)
            loop = self._loop

            def on_value(value):   # in the air's loop
                stats.received.append(bytes(value))
                loop.call_soon_threadsafe(callback, char, bytearray(value))

            await air.call(self._peer.subscribe(char.proxy, on_value))

        async def write_gatt_char(self, char_specifier, data, response: bool | None = None):
            char = self._characteristic(char_specifier)
            if response is None:
                response = "write" in char.properties
            await air.call(self._peer.write_value(char.proxy, bytes(data), with_response=response))

        async def disconnect(self):
            connection = self._connection
            if connection is not None:
                stats.hangups.append(time.monotonic())
                await air.call(connection.disconnect())
                self._disconnected()

        async def __aenter__(self):
            await self.connect()
            return self

        async def __aexit__(self, *exc):
            await self.disconnect()

    module = types.ModuleType("bleak")   # what `import bleak` would give, for sys.modules too
    module.BleakScanner, module.BleakClient, module.BleakError = BleakScanner, BleakClient, BleakError
    module.device, module.stats = device, stats
    return module
