"""The client's small HTTP/1.1 client, against a raw asyncio server with canned answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import SplitResult, urlsplit

import pytest
import pytest_asyncio

from jupyter_sente.client._http import HttpClient, HttpTransportError

pytestmark = pytest.mark.asyncio


class Canned:
    """Answers each request on a connection with the next canned answer (then, maybe, hangs up)."""

    def __init__(self, answers: list[bytes], *, hang_up_after: int | None = None) -> None:
        self.answers = answers
        self.hang_up_after = hang_up_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(self._conns)

    def url(self, path: str = "/chsk?a=1") -> SplitResult:
        return urlsplit(f"http://127.0.0.1:{self.port}{path}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self.connections += 1
        served = 0
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                writer.write(self.answers.pop(0))
                await writer.drain()
                served += 1
                if self.hang_up_after is not None and served >= self.hang_up_after:
                    break
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()
            self._conns.discard(task)


@pytest_asyncio.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient()
    yield client
    await client.aclose()


async def serve(answers: list[bytes], **kw: int) -> Canned:
    canned = Canned(answers, **kw)
    await canned.start()
    return canned


async def test_content_length_body_and_headers(http: HttpClient) -> None:
    canned = await serve([b"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello"])
    r = await http.request("GET", canned.url(), {"X-Me": "yes"})
    assert (r.status, r.reason, r.body, r.header("x-a")) == (200, "OK", b"hello", "1")
    assert canned.requests[0].startswith(b"GET /chsk?a=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nX-Me: yes\r\n" in canned.requests[0]
    await canned.stop()


async def test_chunked_body(http: HttpClient) -> None:
    body = b"4\r\nWiki\r\n6;ext=1\r\npedia \r\n0\r\nTrailer: x\r\n\r\n"
    canned = await serve([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body])
    r = await http.request("GET", canned.url(), {})
    assert r.body == b"Wikipedia "
    await canned.stop()


async def test_body_until_close_when_no_length(http: HttpClient) -> None:
    canned = await serve([b"HTTP/1.0 200 OK\r\n\r\nall of it"], hang_up_after=1)
    r = await http.request("GET", canned.url(), {})
    assert r.body == b"all of it"
    await canned.stop()


async def test_post_sends_the_body_with_its_length(http: HttpClient) -> None:
    canned = await serve([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    await http.request("POST", canned.url("/chsk"), {}, b"a=1&b=2")
    assert canned.requests[0].endswith(b"Content-Length: 7\r\n\r\na=1&b=2")
    await canned.stop()


async def test_kept_alive_connection_is_reused(http: HttpClient) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
    canned = await serve([ok, ok, ok])
    for _ in range(3):
        assert (await http.request("GET", canned.url(), {})).body == b"1"
    assert canned.connections == 1
    await canned.stop()


@pytest.mark.parametrize("idle_s", [0.0, 0.05])
async def test_a_connection_closed_while_idle_is_replaced_transparently(
    http: HttpClient, idle_s: float
) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
    canned = await serve([ok, ok], hang_up_after=1)
    assert (await http.request("GET", canned.url(), {})).body == b"1"
    # at once, the hang-up may not have arrived: the reused connection fails and is replaced;
    # after a pause it has, and the idle connection is dropped before use
    await asyncio.sleep(idle_s)
    assert (await http.request("POST", canned.url(), {}, b"x")).body == b"1"
    assert canned.connections == 2
    await canned.stop()


async def test_garbage_status_line_is_a_transport_error(http: HttpClient) -> None:
    canned = await serve([b"SMTP ready\r\n\r\n"])
    with pytest.raises(HttpTransportError):
        await http.request("GET", canned.url(), {})
    await canned.stop()


async def test_response_cut_short_is_a_transport_error(http: HttpClient) -> None:
    canned = await serve([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], hang_up_after=1)
    with pytest.raises(HttpTransportError):
        await http.request("GET", canned.url(), {})
    await canned.stop()
