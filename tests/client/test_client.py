"""The asyncio client against the independent stub server: Sente's wire, both transports."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.client import (
    Client,
    EventMsg,
    ReplyClosed,
    ReplyTimeout,
    connect,
)
from jupyter_sente.core.events import CHSK_CLOSED, CHSK_TIMEOUT
from jupyter_sente.exceptions import UsageError
from jupyter_sente.values import kw
from tests.client.conftest import MS, SCALE, Recorder, S, fast_timing
from tests.client.stub_server import StubServer

pytestmark = pytest.mark.asyncio

TYPES = ["ws", "ajax"]


@pytest_asyncio.fixture
async def make_client(stub: StubServer, recorder: Recorder) -> AsyncIterator[Any]:
    """``await make_client(type=...)``: a started, open client on the stub, closed afterwards."""
    clients: list[Client] = []

    async def make(url: str | None = None, *, wait: bool = True, **options: object) -> Client:
        options.setdefault("timing", fast_timing())
        client = Client(url or stub.url, **options)  # type: ignore[arg-type]
        client.on_default(recorder)
        clients.append(client)
        await client.start()
        if wait:
            await client.wait_open(5 * S)
        return client

    yield make
    for client in clients:
        await client.close()


# -- handshake and state -------------------------------------------------------------------------


@pytest.mark.parametrize("type", TYPES)
async def test_handshake_opens_the_client_and_is_delivered_with_first_flag(
    make_client: Any, recorder: Recorder, type: str
) -> None:
    client = await make_client(type=type)
    await recorder.wait_count("chsk/handshake")
    assert recorder.data("chsk/handshake") == [["alice", None, None, True]]
    assert client.state == {
        "type": type,
        "open?": True,
        "ever-opened?": True,
        "csrf-token": None,
        "uid": "alice",
        "handshake-data": None,
    }
    assert client.is_open and client.uid == "alice" and client.transport == type


@pytest.mark.parametrize("type", TYPES)
async def test_first_open_is_announced_with_sentes_transient_keys(
    make_client: Any, recorder: Recorder, type: str
) -> None:
    client = await make_client(type=type)
    old, new, open_changed = next(s for s in recorder.states() if s[2])
    assert open_changed is True
    assert old == {"type": type, "open?": False, "ever-opened?": False, "csrf-token": None}
    assert new["open-changed?"] is True and new["opened?"] is True and new["first-open?"] is True
    assert "closed?" not in new
    # the transient keys are in the notification only, never in the state map
    assert not {"open-changed?", "opened?", "first-open?"} & client.state.keys()


async def test_state_change_comes_before_the_handshake_event(
    make_client: Any, recorder: Recorder
) -> None:
    await make_client(type="ws")
    await recorder.wait_count("chsk/handshake")
    ids = recorder.ids()
    assert ids.index("chsk/state") < ids.index("chsk/handshake")


async def test_reconnect_reopens_without_first_open(make_client: Any, recorder: Recorder) -> None:
    client = await make_client(type="ws")
    await client.reconnect()
    await client.wait_open(5 * S)
    await recorder.wait_count("chsk/handshake", 2)
    flips = [new for _, new, changed in recorder.states() if changed]
    assert [f["open?"] for f in flips] == [True, False, True]
    assert flips[1]["closed?"] is True
    assert flips[1]["last-close"]["reason"] == "requested-reconnect"
    assert "first-open?" not in flips[2]
    # a :ws socket keeps its implementation: the second handshake is not a first one
    assert [h[3] for h in recorder.data("chsk/handshake")] == [True, False]


async def test_connect_helper_returns_an_open_client(stub: StubServer) -> None:
    client = await connect(stub.url, type="ws", timing=fast_timing())
    try:
        assert client.is_open
    finally:
        await client.close()


async def test_connect_helper_times_out_and_cleans_up_when_nothing_answers() -> None:
    from tests.client.stub_server import _free_port

    with pytest.raises(TimeoutError):
        await connect(
            f"http://127.0.0.1:{_free_port()}/chsk",
            type="ws",
            timing=fast_timing(),
            open_timeout=300 * MS,
        )


# -- what goes on the wire -----------------------------------------------------------------------


async def test_ws_url_has_params_then_client_id_and_csrf_token_and_no_udt(
    make_client: Any, stub: StubServer
) -> None:
    await make_client(
        type="ws",
        params={"room": "lobby", "client-id": "spoofed"},
        csrf_token="tok-1",
        client_id="my-client",
    )
    (upgrade,) = [r for r in stub.requests if r.kind == "ws"]
    assert upgrade.query == {"room": "lobby", "client-id": "my-client", "csrf-token": "tok-1"}


async def test_blank_csrf_token_is_left_out(make_client: Any, stub: StubServer) -> None:
    await make_client(type="ws", csrf_token=lambda: "  ")
    (upgrade,) = [r for r in stub.requests if r.kind == "ws"]
    assert "csrf-token" not in upgrade.query


async def test_ajax_polls_carry_udt_client_id_and_handshake_flag_only_while_closed(
    make_client: Any, stub: StubServer
) -> None:
    await make_client(type="ajax", params={"room": "lobby"}, csrf_token="tok-1", client_id="c1")
    await stub.wait_for(lambda: len([r for r in stub.requests if r.kind == "poll"]) >= 2, 5 * S)
    first, second = [r for r in stub.requests if r.kind == "poll"][:2]
    assert first.query.keys() == {"room", "udt", "client-id", "handshake?"}
    assert first.query["handshake?"] == "1" and first.query["client-id"] == "c1"
    assert first.query["udt"].isdigit()
    assert "handshake?" not in second.query
    assert first.headers["X-Csrf-Token"] == "tok-1"
    assert first.headers["X-Requested-With"] == "XMLHTTPRequest"


async def test_ajax_post_is_a_form_of_udt_client_id_ppstr_without_params(
    make_client: Any, stub: StubServer
) -> None:
    client = await make_client(type="ajax", params={"room": "lobby"}, csrf_token="tok-1")
    assert await client.send(("my-app/hello", 1))
    assert await client.request(("my-app/echo", 2), 2 * S) == 2
    posts = [r for r in stub.requests if r.kind == "post"]
    assert [list(p.form) for p in posts] == [["udt", "client-id", "ppstr"]] * 2
    assert all(p.query == {} and p.headers["X-Csrf-Token"] == "tok-1" for p in posts)
    assert posts[0].form["ppstr"] == "[[:my-app/hello 1] nil]"
    assert posts[1].form["ppstr"] == "[[:my-app/echo 2] :ajax]"


async def test_ws_frames_are_sentes_envelopes_with_six_hex_cb_ids(
    make_client: Any, stub: StubServer
) -> None:
    client = await make_client(type="ws")
    await client.send(("my-app/hello", {"x": 1}))
    await client.request(("my-app/echo", 2), 2 * S)
    hello, echo = [r for r in stub.received if r.id.startswith("my-app/")]
    assert hello.frame == '[[:my-app/hello {"x" 1}] nil]'
    assert re.fullmatch(r'\[\[:my-app/echo 2\] "[0-9a-f]{6}"\]', echo.frame)


# -- request / reply -----------------------------------------------------------------------------


@pytest.mark.parametrize("type", TYPES)
async def test_request_returns_the_servers_reply(make_client: Any, type: str) -> None:
    client = await make_client(type=type)
    data = {kw("x"): [1, "two", None]}
    assert await client.request((kw("my-app/echo"), data), 2 * S) == data
    assert await client.request([kw("my-app/echo"), "s"], 2 * S) == "s"
    assert await client.request("my-app/echo", 2 * S) is None


@pytest.mark.parametrize("type", TYPES)
async def test_request_timeout_raises_and_the_late_reply_is_dropped(
    make_client: Any, type: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(type=type)
    with pytest.raises(ReplyTimeout):
        await client.request(("my-app/late", int(300 * SCALE)), 100 * MS)
    # the server answers in time order: once this reply is in, the late one came (and went)
    assert await client.request(("my-app/late", int(400 * SCALE)), 2 * S) == "late"
    assert client.is_open
    assert await client.request(("my-app/echo", 3), 2 * S) == 3
    if type == "ws":
        assert "reply without a pending request" in caplog.text


async def test_raw_request_returns_sentes_keywords(make_client: Any) -> None:
    client = await make_client(type="ws")
    assert await client.request(("my-app/late", 300), 50 * MS, raw=True) is CHSK_TIMEOUT
    await client.disconnect()
    assert await client.request(("my-app/echo", 1), 1, raw=True) is CHSK_CLOSED


async def test_many_concurrent_requests_each_get_their_own_reply(make_client: Any) -> None:
    client = await make_client(type="ws")
    replies = await asyncio.gather(*(client.request(("my-app/echo", i), 5 * S) for i in range(200)))
    assert replies == list(range(200))


# -- pushes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("type", TYPES)
async def test_pushed_batch_reaches_handlers_and_streams_in_order(
    make_client: Any, type: str
) -> None:
    client = await make_client(type=type)
    seen: list[str] = []
    client.on("my-app/alert", lambda msg: seen.append(msg.data))
    stream = client.events()
    await client.send("my-app/push-me")
    got = [await asyncio.wait_for(anext(stream), 5 * S) for _ in range(2)]
    assert [(m.id, m.data) for m in got] == [("my-app/alert", "hi"), ("my-app/alert", "yo")]
    assert seen == ["hi", "yo"]
    assert got[0].event == [kw("my-app/alert"), "hi"]


@pytest.mark.parametrize("type", TYPES)
async def test_pushed_events_in_the_chsk_namespace_are_dropped(
    make_client: Any, recorder: Recorder, type: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(type=type)
    await client.send("my-app/push-chsk")
    await recorder.wait_count("my-app/alert")
    assert recorder.data("my-app/alert") == ["ok"]
    assert "chsk/uidport-open" not in recorder.ids()
    assert "reserved chsk namespace" in caplog.text


async def test_server_ping_is_answered_with_a_pong_and_emitted(
    make_client: Any, stub: StubServer, recorder: Recorder
) -> None:
    client = await make_client(type="ws")
    await client.send("my-app/ping-me")
    await stub.wait_for(lambda: stub.pongs == 1, 5 * S)
    assert "[[:chsk/ws-pong] nil]" in [r.frame for r in stub.received]
    await recorder.wait_count("chsk/ws-ping")
    assert recorder.data("chsk/ws-ping") == [None]


# -- keep-alive ----------------------------------------------------------------------------------


async def test_client_pings_after_silence_and_a_pong_keeps_it_open(
    make_client: Any, stub: StubServer, recorder: Recorder
) -> None:
    await make_client(type="ws")  # fast_timing: a ping after 200 ms of silence
    await stub.wait_for(lambda: stub.received_ids().count("chsk/ws-ping") >= 2, 5 * S)
    pings = [r for r in stub.received if r.id == "chsk/ws-ping"]
    assert all(re.fullmatch(r'\[\[:chsk/ws-ping\] "[0-9a-f]{6}"\]', p.frame) for p in pings)
    assert recorder.opens() == [True]  # never closed


async def test_unanswered_ping_reconnects_with_reason_ws_ping_timeout(
    make_client: Any, stub: StubServer, recorder: Recorder
) -> None:
    stub.answer_pings = False
    await make_client(type="ws")
    await recorder.wait_count("chsk/handshake", 2)
    closes = [
        new["last-close"] for _, new, changed in recorder.states() if changed and not new["open?"]
    ]
    assert closes[0]["reason"] == "ws-ping-timeout"
    assert stub.ws_closes[0] == (1000, "CLOSE_NORMAL")


@pytest.mark.parametrize("type", TYPES)
async def test_ping_measures_one_round_trip_with_sentes_ping_on_each_transport(
    make_client: Any, stub: StubServer, type: str
) -> None:
    client = await make_client(type=type, timing=fast_timing(ws_kalive_ms=None))
    seconds = await client.ping(2 * S)
    assert 0 < seconds < 2 * S
    (ping,) = [r for r in stub.received if r.id == "chsk/ws-ping"]
    if type == "ws":  # Sente's keep-alive ping with a cb-id, answered "pong"
        assert re.fullmatch(r'\[\[:chsk/ws-ping\] "[0-9a-f]{6}"\]', ping.frame)
    else:  # Ajax: a POST without a cb-id, answered :chsk/dummy-cb-200
        assert ping.frame == "[[:chsk/ws-ping] nil]"


async def test_unanswered_ping_times_out_without_reconnecting(
    make_client: Any, stub: StubServer, recorder: Recorder
) -> None:
    stub.answer_pings = False
    client = await make_client(type="ws", timing=fast_timing(ws_kalive_ms=None))
    with pytest.raises(ReplyTimeout):
        await client.ping(100 * MS)
    assert client.is_open and recorder.opens() == [True]


async def test_ping_while_closed_raises_closed_and_bad_timeouts_are_usage_errors(
    stub: StubServer,
) -> None:
    client = Client(stub.url, timing=fast_timing())
    try:
        with pytest.raises(ReplyClosed):
            await client.ping(1)
        with pytest.raises(UsageError, match="positive timeout"):
            await client.ping(0)
    finally:
        await client.close()


# -- closed, disconnected ------------------------------------------------------------------------


async def test_send_and_request_before_start_report_closed(stub: StubServer) -> None:
    client = Client(stub.url, timing=fast_timing())
    try:
        assert await client.send(("my-app/hello", 1)) is False
        with pytest.raises(ReplyClosed):
            await client.request(("my-app/echo", 1), 1)
    finally:
        await client.close()


@pytest.mark.parametrize("type", TYPES)
async def test_disconnect_closes_cleanly_and_stops_reconnecting(
    make_client: Any, stub: StubServer, recorder: Recorder, type: str
) -> None:
    client = await make_client(type=type)
    await client.disconnect()
    assert client.state["last-close"]["reason"] == "requested-disconnect"
    assert not client.is_open and client.transport is None
    with pytest.raises(ReplyClosed):
        await client.request(("my-app/echo", 1), 1)
    assert await client.send("my-app/hello") is False
    seen = len(stub.requests)
    await asyncio.sleep(300 * MS)  # longer than any backoff of fast_timing: nothing may follow
    assert len(stub.requests) == seen
    if type == "ws":
        await stub.wait_for(lambda: bool(stub.ws_closes), 5 * S)
        assert stub.ws_closes == [(1000, "CLOSE_NORMAL")]


@pytest.mark.parametrize("type", TYPES)
async def test_pending_request_ends_closed_on_disconnect(make_client: Any, type: str) -> None:
    client = await make_client(type=type)
    pending = asyncio.ensure_future(client.request("my-app/silent", 10 * S))
    await asyncio.sleep(100 * MS)  # the request is on the wire
    await client.disconnect()
    with pytest.raises(ReplyClosed):
        await pending


async def test_close_ends_event_streams(make_client: Any) -> None:
    client = await make_client(type="ws")
    stream = client.events()
    await client.close()
    assert [m async for m in stream if m.id != "chsk/state"] == []
    assert client.closed
    with pytest.raises(UsageError):
        await client.reconnect()


# -- the API's shape -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["no-namespace", ("chsk/state", 1), (1, 2), ("a/b", 1, 2), [], {"a/b": 1}]
)
async def test_invalid_events_are_usage_errors(make_client: Any, bad: object) -> None:
    client = await make_client(type="ws")
    with pytest.raises(UsageError):
        await client.send(bad)
    with pytest.raises(UsageError):
        await client.request(bad, 1)


async def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        Client("ftp://x/chsk")
    with pytest.raises(UsageError):
        Client("http://x/chsk", type="smoke")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Client("http://x/chsk", client_id=" ")


async def test_handler_errors_are_logged_and_others_still_run(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(type="ws")
    seen: list[str] = []

    def broken(msg: EventMsg) -> None:
        raise RuntimeError("boom")

    client.on("my-app/alert", broken)
    client.on("my-app/alert", lambda msg: seen.append(msg.data))
    with caplog.at_level(logging.ERROR, "jupyter_sente.client"):
        stream = client.events()
        await client.send("my-app/push-me")
        await asyncio.wait_for(anext(stream), 5 * S)
        await asyncio.wait_for(anext(stream), 5 * S)
    assert seen == ["hi", "yo"]
    assert caplog.text.count("RuntimeError: boom") == 2


async def test_async_handlers_run_as_tasks(make_client: Any) -> None:
    client: Client = await make_client(type="ws")
    done = asyncio.Event()
    seen: list[str] = []

    @client.on("my-app/alert")
    async def handler(msg: EventMsg) -> None:
        await asyncio.sleep(0)
        seen.append(msg.data)
        if len(seen) == 2:
            done.set()

    await client.send("my-app/push-me")
    await asyncio.wait_for(done.wait(), 5 * S)
    assert seen == ["hi", "yo"]


async def test_default_handler_gets_only_events_without_their_own(
    make_client: Any, recorder: Recorder
) -> None:
    client = await make_client(type="ws")
    own: list[str] = []
    client.on("my-app/alert", lambda msg: own.append(msg.data))
    stream = client.events()
    await client.send("my-app/push-chsk")
    assert (await asyncio.wait_for(anext(stream), 5 * S)).id == "my-app/alert"
    assert own == ["ok"] and "my-app/alert" not in recorder.ids()
    client.off("my-app/alert")
    await client.send("my-app/push-chsk")
    await recorder.wait_count("my-app/alert")
