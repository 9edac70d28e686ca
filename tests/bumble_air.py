"""The air for BLE tests on a real host stack: Bumble's LocalLink joining virtual controllers
(bumble.controller.Controller), each under a full Bumble host stack (HCI, L2CAP, ATT, GATT,
GAP) that talks to it in HCI packets. No radio, no BlueZ, no D-Bus.

The link runs in its own thread with its own asyncio loop, as a real BLE stack runs apart from
the program using it (BlueZ is another process): code under test keeps its own loop (the
monitor starts one per session with asyncio.run), and a peripheral outlives the sessions that
connect to it, as a board does.

    with VirtualAir() as air:
        device = air.run(air.add_device("tinyml", "C0:00:00:00:00:01"))  # powered on
        result = await air.call(some_coroutine())   # from another loop
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

TIMEOUT = 10.0   # seconds for one call into the air: a hang fails the test instead of the run


class VirtualAir:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bumble-air", daemon=True)
        self._thread.start()
        self.link = self.run(self._make_link())
        self.devices: list[Device] = []

    async def _make_link(self) -> LocalLink:
        return LocalLink()  # made in the air's loop, where the controllers will live

    def run(self, coroutine, timeout: float = TIMEOUT):
        """Run `coroutine` in the air's loop from a thread without a running loop; its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def call(self, coroutine, timeout: float = TIMEOUT):
        """Await `coroutine` run in the air's loop, from another loop."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            future.cancel()
            raise

    def soon(self, function, *args):
        """Call `function(*args)` in the air's loop, from any thread, without waiting."""
        self.loop.call_soon_threadsafe(function, *args)

    async def add_device(self, name: str, address: str) -> Device:
        """A device on its own controller on the link, powered on; call in the air's loop."""
        controller = Controller(name, link=self.link)
        # the host reaches the controller through a pipe of HCI packets (bytes), as it would
        # reach a USB or UART controller
        device = Device(name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller)))
        await device.power_on()
        self.devices.append(device)
        return device

    def close(self):
        async def power_off():
            for device in self.devices:
                for connection in list(device.connections.values()):
                    try:
                        await connection.disconnect()
                    except Exception:  # noqa: BLE001 - already going: nothing left to close
                        pass
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(power_off())
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
