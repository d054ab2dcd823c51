"""A TCP proxy between the client and the test server that can hold, cut and refuse
connections, to cause connection losses and real session expiries on demand.

It runs its own event loop on its own thread, so it keeps working whatever the test's loop
does. Traffic goes only to the loopback address of the test server.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Dict, Set


class FrameCounter:
    """Counts the requests in a client's byte stream by opcode (the first frame, the
    handshake, has none)."""

    def __init__(self, counts: Dict[int, int]) -> None:
        self.counts = counts
        self.buffer = b''
        self.handshake = True

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 4:
            size = int.from_bytes(self.buffer[:4], 'big', signed=True)
            if len(self.buffer) < 4 + size:
                return
            frame, self.buffer = self.buffer[4 : 4 + size], self.buffer[4 + size :]
            if self.handshake:
                self.handshake = False
            elif len(frame) >= 8:
                op = int.from_bytes(frame[4:8], 'big', signed=True)
                self.counts[op] = self.counts.get(op, 0) + 1


class Proxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream`` (``host:port``).

    ``received(op)`` counts the requests of that opcode read from clients so far, held or
    forwarded: a test can wait until a request has left the client before it cuts the
    connection.
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(':', 1)
        self._upstream = (host, int(port))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name='test-proxy', daemon=True)
        self._thread.start()
        self._flowing = self._call(self._make_event)
        self._refusing = False
        self._counts: Dict[int, int] = {}
        self._writers: Set[asyncio.StreamWriter] = set()
        self._server = self._call(self._listen)
        self.address = '127.0.0.1:%d' % self._server.sockets[0].getsockname()[1]

    # ------------------------------------------------------------------ controls

    def stall(self) -> None:
        """Stops forwarding (both ways) without closing anything: requests get no reply."""
        self._call(self._set_flowing, False)

    def resume(self) -> None:
        """Forwards again (and accepts connections again)."""
        self._refusing = False
        self._call(self._set_flowing, True)

    def cut(self) -> None:
        """Closes every open connection (the client sees them drop)."""
        self._call(self._close_all)

    def refuse(self) -> None:
        """Cuts every connection and closes new ones at once, until ``resume()``."""
        self._refusing = True
        self.cut()

    def received(self, op: int) -> int:
        """How many requests with opcode ``op`` clients have sent through the proxy."""
        return self._call(lambda: self._counts.get(op, 0))

    def close(self) -> None:
        """Stops the proxy and closes every socket."""

        async def stop() -> None:
            self._server.close()
            await self._close_all()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in others:
                t.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        self._call(stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # ------------------------------------------------------------------ internals

    def _call(self, fn: Any, *args: Any) -> Any:
        async def run() -> Any:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    @staticmethod
    def _make_event() -> asyncio.Event:
        event = asyncio.Event()
        event.set()
        return event

    def _set_flowing(self, on: bool) -> None:
        if on:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _listen(self) -> Any:
        return await asyncio.start_server(self._accept, '127.0.0.1', 0)

    async def _close_all(self) -> None:
        writers, self._writers = self._writers, set()
        for w in writers:
            w.close()
        for w in writers:
            try:
                await w.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        counter = FrameCounter(self._counts)
        await asyncio.gather(
            self._pump(reader, up_writer, counter), self._pump(up_reader, writer, None), return_exceptions=True
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: Any) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if counter is not None:
                    counter.feed(data)
                await self._flowing.wait()
                if writer.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
