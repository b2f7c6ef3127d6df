"""A TCP proxy in front of the Jupyter server that can take a browser offline.

Playwright's ``context.set_offline(True)`` fails new requests but leaves open WebSockets
alone (microsoft/playwright#4910), so a page on a WebSocket would never notice. A browser
that reaches the server through this proxy loses every connection at once when it goes
offline (they are reset, as when a network interface goes down), and cannot open new ones
until it is back online.
"""

from __future__ import annotations

import asyncio
import threading


class Proxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``, on its own thread and loop."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.online = True
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="e2e-proxy", daemon=True)

    def start(self) -> int:
        """Start listening; the proxy's port."""
        self._thread.start()
        self._started.wait()
        return self.port

    def set_online(self, online: bool) -> None:
        """Go offline (reset every connection, refuse new ones) or online again."""
        done = threading.Event()

        def switch() -> None:
            self.online = online
            if not online:
                for w in list(self._writers):
                    w.transport.abort()
                self._writers.clear()
            done.set()

        self._loop.call_soon_threadsafe(switch)
        done.wait()

    def stop(self) -> None:
        """Close everything and end the thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for w in self._writers:
                w.transport.abort()
            self._loop.run_until_complete(asyncio.sleep(0))  # let aborted transports finish
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.online:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, up_writer}
        self._writers |= pair
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._writers -= pair
            for w in pair:
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream (then pass the EOF on) or until either side breaks."""
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()
