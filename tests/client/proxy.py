"""A loopback TCP proxy for fault tests: it can go silent, or refuse WebSocket upgrades."""

from __future__ import annotations

import asyncio
import contextlib

_REFUSAL = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
    b"Connection: close\r\n\r\nForbidden"
)


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target_port``.

    ``silent``: every byte in either direction is swallowed (a dead network that still
    accepts connections). ``refuse_upgrades``: a request carrying ``Upgrade: websocket`` is
    answered 403 by the proxy itself, as a reverse proxy that does not pass WebSockets.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.silent = False
        self.refuse_upgrades = False
        self.refused = 0
        self.passed = 0  # requests let through while refusing upgrades
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[object]] = set()

    def url(self, path: str = "/chsk") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(self._conns)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            head = b""
            if self.refuse_upgrades:
                head = await reader.readuntil(b"\r\n\r\n")
                if b"upgrade: websocket" in head.lower():
                    self.refused += 1
                    writer.write(_REFUSAL)
                    await writer.drain()
                    return
                self.passed += 1
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            if head:
                up_writer.write(head)
            loop = asyncio.get_running_loop()
            pumps = [
                loop.create_task(self._pump(reader, up_writer)),
                loop.create_task(self._pump(up_reader, writer)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for p in pumps:
                    p.cancel()
                await asyncio.wait(pumps)
                up_writer.close()
        except (OSError, asyncio.IncompleteReadError):
            pass  # either side went away: the connection ends, as on a real network
        finally:
            writer.close()
            self._conns.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if self.silent:
                    continue
                writer.write(data)
                await writer.drain()
