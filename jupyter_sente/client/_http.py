"""A small HTTP/1.1 client over asyncio streams, for Ajax polls and POSTs.

Enough HTTP for Sente's Ajax transport: GET and POST with a body, responses framed by
``Content-Length``, chunked encoding or the connection's end, and keep-alive connections
reused per origin. It keeps the client free of tornado and of any other HTTP library.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as _ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult

__all__ = ["HttpClient", "HttpResponse", "HttpTransportError"]

_MAX_HEADER_LINES = 200
_MAX_IDLE_PER_ORIGIN = 4


class HttpTransportError(OSError):
    """The server's answer was not valid HTTP/1.1, or the connection ended too early."""


@dataclass
class HttpResponse:
    """Status, headers (lower-case names, in order) and the whole body."""

    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (case-insensitive), ``None`` if absent."""
        name = name.lower()
        for k, v in reversed(self.headers):
            if k == name:
                return v
        return None


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


_Origin = tuple[str, str, int]


class HttpClient:
    """Requests over kept-alive HTTP/1.1 connections; ``aclose()`` when done."""

    def __init__(self, ssl: _ssl.SSLContext | None = None) -> None:
        self._ssl = ssl
        self._idle: dict[_Origin, list[_Conn]] = {}
        self._busy: set[_Conn] = set()

    async def request(
        self,
        method: str,
        url: SplitResult,
        headers: Mapping[str, str],
        body: bytes | None = None,
    ) -> HttpResponse:
        """Send one request and read the whole response (the caller bounds the time)."""
        origin = _origin(url)
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        head = [f"{method} {target} HTTP/1.1", f"Host: {url.netloc}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None or method == "POST":
            head.append(f"Content-Length: {len(body or b'')}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")

        # A kept-alive connection may have been closed by the server while idle: when a reused
        # one fails before any byte of the answer, the request goes again on a fresh one.
        while True:
            conn, reused = await self._acquire(origin)
            self._busy.add(conn)
            answered = False
            try:
                conn.writer.write(data)
                await conn.writer.drain()
                status_line = await conn.reader.readline()
                if not status_line:
                    raise HttpTransportError("the server closed the connection before answering")
                answered = True
                response, keep = await _read_response(conn.reader, status_line, method)
            except (OSError, asyncio.IncompleteReadError) as e:
                self._busy.discard(conn)
                conn.close()
                if reused and not answered:
                    continue
                if isinstance(e, asyncio.IncompleteReadError):
                    raise HttpTransportError("the connection ended inside the response") from e
                raise
            except BaseException:
                self._busy.discard(conn)
                conn.close()
                raise
            self._busy.discard(conn)
            if keep and conn.usable():
                idle = self._idle.setdefault(origin, [])
                if len(idle) < _MAX_IDLE_PER_ORIGIN:
                    idle.append(conn)
                    return response
            conn.close()
            return response

    async def _acquire(self, origin: _Origin) -> tuple[_Conn, bool]:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn, True
            conn.close()
        scheme, host, port = origin
        ctx: _ssl.SSLContext | None = None
        if scheme == "https":
            ctx = self._ssl or _ssl.create_default_context()
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
        return _Conn(reader, writer), False

    def abort(self) -> None:
        """Close every connection, idle or in use (in-flight requests fail)."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        for conn in self._busy:
            conn.close()
        self._busy.clear()

    async def aclose(self) -> None:
        """Close every connection and wait until they are closed."""
        writers = [c.writer for conns in self._idle.values() for c in conns]
        writers += [c.writer for c in self._busy]
        self.abort()
        for w in writers:
            with contextlib.suppress(OSError):  # the peer may have reset it first: closed anyway
                await w.wait_closed()


def _origin(url: SplitResult) -> _Origin:
    scheme = url.scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url.geturl()!r}")
    host = url.hostname or "localhost"
    port = url.port or (443 if scheme == "https" else 80)
    return scheme, host, port


async def _read_response(
    reader: asyncio.StreamReader, status_line: bytes, method: str
) -> tuple[HttpResponse, bool]:
    parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpTransportError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    version, status = parts[0], int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers: list[tuple[str, str]] = []
    for _ in range(_MAX_HEADER_LINES):
        line = await reader.readline()
        if not line.endswith(b"\n"):
            raise HttpTransportError("the connection ended inside the response headers")
        if line in (b"\r\n", b"\n"):
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise HttpTransportError(f"bad header line: {line[:80]!r}")
        headers.append((name.strip().lower(), value.strip()))
    else:
        raise HttpTransportError("too many response headers")
    response = HttpResponse(status, reason, headers)
    connection = (response.header("connection") or "").lower()
    keep = version == "HTTP/1.1" and "close" not in connection
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return response, keep
    if "chunked" in (response.header("transfer-encoding") or "").lower():
        response.body = await _read_chunked(reader)
    elif (length := response.header("content-length")) is not None:
        if not length.isdigit():
            raise HttpTransportError(f"bad Content-Length: {length!r}")
        response.body = await reader.readexactly(int(length))
    else:
        response.body = await reader.read()
        keep = False
    return response, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpTransportError(f"bad chunk size line: {size_line[:80]!r}") from None
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers: not used
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
