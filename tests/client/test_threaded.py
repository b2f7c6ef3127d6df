"""ThreadedClient: blocking calls from plain code, handlers on the client's own thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from jupyter_sente.client import (
    EventMsg,
    ReplyClosed,
    ReplyTimeout,
    ThreadedClient,
)
from jupyter_sente.core.events import CHSK_TIMEOUT
from jupyter_sente.exceptions import UsageError
from tests.client.conftest import MS, SCALE, LoopThread, S, fast_timing
from tests.client.stub_server import StubServer, _free_port

Served = tuple[StubServer, LoopThread]


def client_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("jupyter-sente-client")]


@pytest.fixture(autouse=True)
def clean_exit(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test must leave no client thread behind and no asyncio error in any loop."""
    caplog.set_level(logging.WARNING, "asyncio")
    yield
    assert client_threads() == []
    loop_errors = [r for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.ERROR]
    assert loop_errors == [], [r.getMessage() for r in loop_errors]


def test_request_and_send_block_until_done(stub_thread: Served) -> None:
    stub, _ = stub_thread
    with ThreadedClient(stub.url, timing=fast_timing()) as client:
        assert client.is_open and client.uid == "alice" and client.transport == "ws"
        assert client.request(("my-app/echo", {"a": [1, 2]}), 2 * S) == {"a": [1, 2]}
        assert client.send(("my-app/hello", 1)) is True
        assert client.request(("my-app/echo", 2), 2 * S) == 2  # in order on one socket: ...
        assert "my-app/hello" in stub.received_ids()  # ... so the server has the send


def test_ping_blocks_for_one_round_trip_and_is_refused_from_a_handler(
    stub_thread: Served,
) -> None:
    stub, _ = stub_thread
    refused: list[Exception] = []
    done = threading.Event()
    with ThreadedClient(stub.url, timing=fast_timing(ws_kalive_ms=None)) as client:
        assert 0 < client.ping(2 * S) < 2 * S
        assert stub.received_ids().count("chsk/ws-ping") == 1

        @client.on("my-app/alert")
        def alert(msg: EventMsg) -> None:
            try:
                client.ping(1)
            except UsageError as e:
                refused.append(e)
            done.set()

        client.send("my-app/push-me")
        assert done.wait(5 * S)
        assert refused and "async handler" in str(refused[0])


def test_handlers_run_on_the_client_thread_while_the_caller_sleeps(stub_thread: Served) -> None:
    stub, _ = stub_thread
    seen: list[tuple[str, str, float]] = []
    with ThreadedClient(stub.url, timing=fast_timing()) as client:

        @client.on("my-app/alert")
        def alert(msg: EventMsg) -> None:
            seen.append((msg.data, threading.current_thread().name, time.monotonic()))

        client.send(("my-app/push-later", int(200 * SCALE)))
        asleep = time.monotonic()
        time.sleep(600 * MS)  # a notebook cell doing time.sleep(30), shorter
        awake = time.monotonic()
        assert [data for data, _, _ in seen] == ["hi", "yo"]
        assert all(name.startswith("jupyter-sente-client") for _, name, _ in seen)
        assert all(asleep <= at <= awake for _, _, at in seen)  # delivered during the sleep


def test_close_stops_the_thread_and_its_loop(stub_thread: Served) -> None:
    stub, server_loop = stub_thread
    client = ThreadedClient(stub.url, timing=fast_timing())
    assert len(client_threads()) == 1
    outcome: list[BaseException] = []
    pending = threading.Thread(target=_request_silent, args=(client, outcome))
    pending.start()
    server_loop.run(stub.wait_for(lambda: "my-app/silent" in stub.received_ids(), 5 * S))
    client.close()
    pending.join(5 * S)
    assert not pending.is_alive()
    assert [type(e) for e in outcome] == [ReplyClosed]
    assert client.closed and client_threads() == []
    client.close()  # idempotent
    with pytest.raises(UsageError):
        client.request(("my-app/echo", 1), 1)


def _request_silent(client: ThreadedClient, outcome: list[BaseException]) -> None:
    try:
        client.request("my-app/silent", 10 * S)
    except BaseException as e:
        outcome.append(e)


def test_sentes_outcomes_raise_or_come_back_raw(stub_thread: Served) -> None:
    stub, _ = stub_thread
    with ThreadedClient(stub.url, timing=fast_timing()) as client:
        with pytest.raises(ReplyTimeout):
            client.request(("my-app/late", int(300 * SCALE)), 100 * MS)
        assert client.request(("my-app/late", int(300 * SCALE)), 100 * MS, raw=True) is CHSK_TIMEOUT
        client.disconnect()
        assert client.state["last-close"]["reason"] == "requested-disconnect"
        with pytest.raises(ReplyClosed):
            client.request(("my-app/echo", 1), 1)
        assert client.send("my-app/hello") is False
        client.reconnect()
        client.wait_open(5 * S)
        assert client.request(("my-app/echo", 1), 2 * S) == 1


def test_from_a_handler_request_is_refused_and_send_is_queued(stub_thread: Served) -> None:
    stub, _ = stub_thread
    outcomes: list[object] = []
    done = threading.Event()
    with ThreadedClient(stub.url, timing=fast_timing()) as client:

        @client.on("my-app/alert")
        def alert(msg: EventMsg) -> None:
            if msg.data != "hi":
                return
            try:
                client.request(("my-app/echo", 1), 1)
            except UsageError as e:
                outcomes.append(e)
            outcomes.append(client.send(("my-app/from-handler", 1)))
            done.set()

        client.send("my-app/push-me")
        assert done.wait(5 * S)
        assert isinstance(outcomes[0], UsageError) and outcomes[1] is True
        assert client.request(("my-app/echo", 2), 2 * S) == 2  # the queued send went first
        assert "my-app/from-handler" in stub.received_ids()


def test_events_iterate_until_idle_or_closed(stub_thread: Served) -> None:
    stub, _ = stub_thread
    with ThreadedClient(stub.url, timing=fast_timing()) as client:
        stream = client.events(timeout=300 * MS)
        client.send("my-app/push-me")
        got = [m.data for m in stream if m.id == "my-app/alert"]
        assert got == ["hi", "yo"]  # then nothing for 300 ms: the iteration ends
        closing = client.events()
    assert [m for m in closing if m.id != "chsk/state"] == []  # ended by close


def test_open_timeout_raises_and_leaves_nothing_behind() -> None:
    with pytest.raises(TimeoutError):
        ThreadedClient(
            f"http://127.0.0.1:{_free_port()}/chsk", timing=fast_timing(), open_timeout=300 * MS
        )


def test_bad_options_raise_in_the_callers_thread() -> None:
    with pytest.raises(UsageError):
        ThreadedClient("http://127.0.0.1:1/chsk", type="pigeon")
