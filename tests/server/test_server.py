"""The channel-socket server over the wire: handshakes, replies, pushes, uids, keep-alive."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from tornado.simple_httpclient import HTTPStreamClosedError

from jupyter_sente.core.server_conn import ConnState
from jupyter_sente.exceptions import UsageError
from jupyter_sente.packers import get_packer
from jupyter_sente.server import (
    ALL_USERS_WITHOUT_UID,
    NIL_UID,
    ChannelSocketServer,
    ConnectedUids,
    Connection,
    EventMsg,
)
from jupyter_sente.values import VECTOR_TYPES, kw
from tests.server.helpers import MS, SCALE, Live, S, body, ms, read

Start = Callable[..., Live]
pytestmark = pytest.mark.asyncio


def echo(msg: EventMsg) -> None:
    assert msg.reply is not None
    msg.reply(msg.data)


# -- WebSocket --------------------------------------------------------------------------------


async def test_ws_open_sends_the_handshake_first(start: Start) -> None:
    live = start()
    ws = await live.ws("c1", uid="alice")
    assert await read(ws) == '[[:chsk/handshake ["alice" nil nil]] nil]'


async def test_ws_handshake_has_nil_uid_and_handshake_data(start: Start) -> None:
    live = start(handshake_data_fn=lambda request: {kw("some"): "data"})
    ws = await live.ws("c1")
    assert await read(ws) == '[[:chsk/handshake [:sente/nil-uid nil {:some "data"}]] nil]'


async def test_ws_request_gets_its_reply_with_the_same_cb_id(start: Start) -> None:
    live = start()
    live.server.on("my-app/echo")(echo)
    ws = await live.ws_open(uid="alice")
    ws.write_message('[[:my-app/echo {:x 1}] "a1b2c3"]')
    assert await read(ws) == '[{:x 1} "a1b2c3"]'


async def test_ws_reply_may_be_sent_more_than_once(start: Start) -> None:
    live = start()

    @live.server.on("my-app/twice")
    def twice(msg: EventMsg) -> None:
        assert msg.reply is not None
        assert msg.reply("one") is True
        assert msg.reply("two") is True

    ws = await live.ws_open()
    ws.write_message('[[:my-app/twice] "abcdef"]')
    assert await read(ws) == '["one" "abcdef"]'
    assert await read(ws) == '["two" "abcdef"]'


async def test_ws_event_without_cb_id_has_no_reply_and_carries_its_request(start: Start) -> None:
    live = start()
    ws = await live.ws_open("tab-1", uid="alice", extra="yes")
    ws.write_message("[[:my-app/note {:n 2}] nil]")
    msg = await live.events.next("my-app/note")
    assert msg.reply is None
    assert msg.event == [kw("my-app/note"), {kw("n"): 2}]
    assert (msg.id, msg.data, msg.uid, msg.client_id) == (
        kw("my-app/note"),
        {kw("n"): 2},
        "alice",
        "tab-1",
    )
    assert msg.transport == "ws"
    assert msg.request.param("extra") == "yes"
    assert msg.request.remote_ip == "127.0.0.1"
    assert "host" in msg.request.headers
    assert msg.server is live.server
    assert isinstance(msg.connection, Connection)
    assert msg.connection.key == ("ws", "alice", "tab-1")


async def test_server_answers_client_ping_with_pong_and_still_routes_it(start: Start) -> None:
    live = start()
    ws = await live.ws_open()
    ws.write_message('[[:chsk/ws-ping] "a1b2c3"]')
    assert await read(ws) == '["pong" "a1b2c3"]'
    msg = await live.events.next("chsk/ws-ping")
    assert msg.event == [kw("chsk/ws-ping")]
    assert msg.reply is None


async def test_client_pong_reaches_the_router(start: Start) -> None:
    live = start()
    ws = await live.ws_open()
    ws.write_message("[[:chsk/ws-pong] nil]")
    msg = await live.events.next("chsk/ws-pong")
    assert msg.event == [kw("chsk/ws-pong")] and msg.reply is None


async def test_async_handlers_may_reply_later(start: Start) -> None:
    live = start()

    @live.server.on(kw("my-app/slow"))
    async def slow(msg: EventMsg) -> None:
        await asyncio.sleep(0)
        assert msg.reply is not None
        msg.reply({kw("done"): True})

    ws = await live.ws_open()
    ws.write_message('[[:my-app/slow] "000001"]')
    assert await read(ws) == '[{:done true} "000001"]'


# -- pushes -----------------------------------------------------------------------------------


async def test_sends_within_the_window_arrive_as_one_batch(start: Start) -> None:
    live = start(send_buf_ms_ws=ms(50))
    ws = await live.ws_open(uid="alice")
    for text in ("a", "b", "c"):
        live.server.send("alice", [kw("my-app/alert"), text])
    assert await read(ws) == '[[[:my-app/alert "a"] [:my-app/alert "b"] [:my-app/alert "c"]] nil]'


async def test_send_accepts_a_string_event_id(start: Start) -> None:
    live = start()
    ws = await live.ws_open(uid="alice")
    live.server.send("alice", ["my-app/alert", "hi"])
    assert await read(ws) == '[[[:my-app/alert "hi"]] nil]'


async def test_flush_skips_the_batching_window(start: Start) -> None:
    live = start(send_buf_ms_ws=ms(60_000), send_buf_ms_ajax=ms(60_000))
    ws = await live.ws_open(uid="alice")
    live.server.send("alice", [kw("my-app/a")])
    live.server.send("alice", [kw("my-app/b")], flush=True)
    assert await read(ws, timeout=2 * S) == "[[[:my-app/a] [:my-app/b]] nil]"


async def test_send_reaches_every_client_of_the_uid_only(start: Start) -> None:
    live = start(send_buf_ms_ajax=ms(20))
    tab1 = await live.ws_open("t1", uid="alice")
    tab2 = await live.ws_open("t2", uid="alice")
    other = await live.ws_open("t3", uid="bob")
    assert (await live.get("t4", uid="alice")).code == 200  # Ajax handshake
    poll = asyncio.ensure_future(live.get("t4", uid="alice"))
    await live.until(lambda: _is_open(live.server, "ajax", "alice", "t4"))
    live.server.send("alice", [kw("my-app/alert"), "hi"])
    expected = '[[[:my-app/alert "hi"]] nil]'
    assert await read(tab1) == expected
    assert await read(tab2) == expected
    assert body(await poll) == expected
    live.server.send("bob", [kw("my-app/only-bob")])
    assert await read(other) == "[[[:my-app/only-bob]] nil]"


async def test_send_to_client_reaches_that_client_only(start: Start) -> None:
    live = start()
    tab1 = await live.ws_open("t1", uid="alice")
    tab2 = await live.ws_open("t2", uid="alice")
    live.server.send_to_client("alice", "t2", [kw("my-app/just-you")])
    live.server.send("alice", [kw("my-app/everyone")])
    assert await read(tab2) == "[[[:my-app/just-you]] nil]"
    assert await read(tab2) == "[[[:my-app/everyone]] nil]"
    assert await read(tab1) == "[[[:my-app/everyone]] nil]"


async def test_all_users_without_uid_reaches_anonymous_clients(start: Start) -> None:
    live = start()
    anon = await live.ws_open("c1")
    named = await live.ws_open("c2", uid="alice")
    live.server.send(ALL_USERS_WITHOUT_UID, [kw("my-app/hello")])
    live.server.send("alice", [kw("my-app/named")])
    assert await read(anon) == "[[[:my-app/hello]] nil]"
    assert await read(named) == "[[[:my-app/named]] nil]"
    assert NIL_UID in live.server.connected_uids.any


class CountingPacker:
    """The EDN packer, counting what it packs."""

    name = "edn"

    def __init__(self) -> None:
        self.inner = get_packer("edn")
        self.packed: list[Any] = []

    def pack(self, value: Any) -> str:
        self.packed.append(value)
        return self.inner.pack(value)

    def unpack(self, text: str) -> Any:
        return self.inner.unpack(text)


async def test_broadcast_reaches_everyone_and_packs_each_batch_once(start: Start) -> None:
    packer = CountingPacker()
    live = start(packer=packer)
    clients = [await live.ws_open(f"c{i}", uid=f"user{i}") for i in range(3)]
    anon = await live.ws_open("c-anon")
    packer.packed.clear()
    live.server.broadcast([kw("my-app/news"), 1])
    live.server.broadcast([kw("my-app/news"), 2])
    for ws in [*clients, anon]:
        assert await read(ws) == "[[[:my-app/news 1] [:my-app/news 2]] nil]"
    batches = [v for v in packer.packed if v[1] is None and isinstance(v[0], list)]
    assert len(batches) == 1


async def test_chsk_close_closes_the_uids_channels(start: Start) -> None:
    live = start()
    ws = await live.ws_open("t1", uid="alice")
    bob = await live.ws_open("t2", uid="bob")
    assert (await live.get("t3", uid="alice")).code == 200
    poll = asyncio.ensure_future(live.get("t3", uid="alice"))
    await live.until(lambda: _is_open(live.server, "ajax", "alice", "t3"))
    live.server.send("alice", [kw("chsk/close")])
    assert await read(ws) is None
    with pytest.raises(HTTPStreamClosedError):  # dropped without an answer, as Sente does
        await poll
    bob.write_message("[[:my-app/still-here] nil]")
    await live.events.next("my-app/still-here")


@pytest.mark.parametrize(
    ("uid", "event", "message"),
    [
        (None, [kw("my-app/x")], "uid None"),
        ("alice", [kw("not-qualified")], "Invalid event"),
        ("alice", "my-app/x", "Invalid event"),
        ("alice", [kw("my-app/x"), 1, 2], "Invalid event"),
        ("alice", [kw("chsk/uidport-open"), "alice"], "chsk"),
        ("alice", [kw("chsk/close"), "now"], "chsk"),
    ],
)
async def test_send_refuses_misuse(start: Start, uid: Any, event: Any, message: str) -> None:
    live = start()
    with pytest.raises(UsageError, match=message):
        live.server.send(uid, event)


async def test_broadcast_refuses_reserved_events(start: Start) -> None:
    live = start()
    with pytest.raises(UsageError, match="chsk"):
        live.server.broadcast([kw("chsk/handshake"), None])


# -- Ajax -------------------------------------------------------------------------------------


async def test_ajax_first_get_is_a_handshake_without_uidport_open(start: Start) -> None:
    live = start()
    response = await live.get("c1", uid="alice")
    assert (response.code, body(response)) == (200, '[[:chsk/handshake ["alice" nil nil]] nil]')
    assert live.server.connected_uids == ConnectedUids()
    assert live.events.of("chsk/uidport-open") == []


async def test_ajax_handshake_param_forces_a_handshake(start: Start) -> None:
    live = start()
    await live.get("c1", uid="alice")
    response = await live.get("c1", uid="alice", **{"handshake?": "1"})
    assert body(response) == '[[:chsk/handshake ["alice" nil nil]] nil]'


async def test_ajax_poll_is_held_then_times_out(start: Start) -> None:
    live = start(lp_timeout_ms=ms(300))
    await live.get("c1", uid="alice")
    began = time.monotonic()
    response = await live.get("c1", uid="alice")
    assert (response.code, body(response)) == (200, "[:chsk/timeout nil]")
    assert time.monotonic() - began >= 0.25 * SCALE
    assert (await live.events.next("chsk/uidport-open")).data == "alice"
    assert live.server.connected_uids == ConnectedUids(
        frozenset(), frozenset({"alice"}), frozenset({"alice"})
    )


async def test_ajax_poll_is_answered_by_the_first_batch(start: Start) -> None:
    live = start(send_buf_ms_ajax=ms(30))
    await live.get("c1", uid="alice")
    poll = asyncio.ensure_future(live.get("c1", uid="alice"))
    await live.until(lambda: _is_open(live.server, "ajax", "alice", "c1"))
    live.server.send("alice", [kw("my-app/alert"), "hi"])
    live.server.send("alice", [kw("my-app/alert"), "yo"])
    assert body(await poll) == '[[[:my-app/alert "hi"] [:my-app/alert "yo"]] nil]'


async def test_ajax_batch_sent_between_polls_waits_for_the_next_poll(start: Start) -> None:
    live = start(send_buf_ms_ajax=ms(10))
    await live.get("c1", uid="alice")  # handshake: an entry, no poll held yet
    live.server.send("alice", [kw("my-app/alert"), "early"], flush=True)
    began = time.monotonic()
    response = await live.get("c1", uid="alice")
    assert body(response) == '[[[:my-app/alert "early"]] nil]'
    assert time.monotonic() - began < 1 * S  # delivered on the poll, not at lp-timeout


async def test_first_ajax_client_gets_a_batch_sent_just_before_its_handshake(
    start: Start,
) -> None:
    # Sente finds a window's recipients when it closes: a client that handshakes while the
    # window is open gets the batch, even when the server had no Ajax client at the send
    live = start(send_buf_ms_ajax=ms(400), lp_timeout_ms=ms(3000))
    await live.ws_open("t1", uid="alice")
    live.server.send("alice", [kw("my-app/alert"), "before"])
    live.server.broadcast([kw("my-app/news"), 1])
    await live.get("c1", uid="alice")  # handshake
    batches = {body(await live.get("c1", uid="alice")) for _ in range(2)}  # a batch per poll
    assert batches == {'[[[:my-app/alert "before"]] nil]', "[[[:my-app/news 1]] nil]"}


async def test_first_ajax_client_misses_batches_whose_window_closed_before_it_came(
    start: Start,
) -> None:
    live = start(send_buf_ms_ajax=ms(20), lp_timeout_ms=ms(3000))
    live.server.send("alice", [kw("my-app/alert"), "gone"])
    live.server.broadcast([kw("my-app/news"), "gone"])
    await asyncio.sleep(0.1 * SCALE)  # both windows close, with no Ajax client to take them
    live.server.send("alice", [kw("my-app/alert"), "later"])
    await live.get("c1", uid="alice")  # handshake
    response = await live.get("c1", uid="alice")
    assert body(response) == '[[[:my-app/alert "later"]] nil]'


async def test_ajax_uid_change_gets_a_new_handshake(start: Start) -> None:
    live = start(lp_timeout_ms=ms(200))
    await live.get("c1")
    assert body(await live.get("c1")) == "[:chsk/timeout nil]"
    # after login the session yields a uid with no entry: a handshake, not a poll
    assert body(await live.get("c1", uid="alice")) == '[[:chsk/handshake ["alice" nil nil]] nil]'


async def test_ajax_post_without_cb_gets_the_dummy_reply(start: Start) -> None:
    live = start()
    response = await live.post("[[:my-app/req {:x 1}] nil]", "c1", uid="alice")
    assert (response.code, body(response)) == (200, "[:chsk/dummy-cb-200 nil]")
    msg = await live.events.next("my-app/req")
    assert (msg.uid, msg.client_id, msg.transport, msg.reply) == ("alice", "c1", "ajax", None)


async def test_ajax_post_with_cb_gets_the_reply_once(start: Start) -> None:
    live = start()
    results: list[bool] = []

    @live.server.on("my-app/echo")
    def echo_twice(msg: EventMsg) -> None:
        assert msg.reply is not None
        results.append(msg.reply(msg.data))
        results.append(msg.reply("again"))

    response = await live.post("[[:my-app/echo {:x 1}] :ajax]", "c1")
    assert (response.code, body(response)) == (200, "[{:x 1} nil]")
    assert results == [True, False]


async def test_ajax_post_without_reply_times_out(start: Start) -> None:
    live = start(lp_timeout_ms=ms(200))
    response = await live.post("[[:my-app/silent] :ajax]", "c1")
    assert (response.code, body(response)) == (200, "[:chsk/timeout nil]")


async def test_ajax_post_binary_body(start: Start) -> None:
    live = start()
    live.server.on("my-app/echo")(echo)
    response = await live.post(
        None, "c1", body=b'[[:my-app/echo "bin"] :ajax]', udt=1, **{"binary?": "true"}
    )
    assert body(response) == '["bin" nil]'


# -- connections, uids and grace periods ------------------------------------------------------


async def test_connected_uids_are_watchable(start: Start) -> None:
    live = start(ms_allow_reconnect_before_close_ws=ms(50))
    changes: list[tuple[ConnectedUids, ConnectedUids]] = []
    unwatch = live.server.watch_connected_uids(lambda old, new: changes.append((old, new)))
    ws = await live.ws_open("c1", uid="alice")
    alice = frozenset({"alice"})
    assert changes == [(ConnectedUids(), ConnectedUids(alice, frozenset(), alice))]
    ws.close()
    await live.events.next("chsk/uidport-close")
    assert changes[-1] == (ConnectedUids(alice, frozenset(), alice), ConnectedUids())
    unwatch()
    await live.ws_open("c2", uid="bob")
    assert len(changes) == 2


async def test_uidport_close_comes_after_the_ws_grace_period(start: Start) -> None:
    live = start(ms_allow_reconnect_before_close_ws=ms(300))
    ws = await live.ws_open("c1", uid="alice")
    opened = await live.events.next("chsk/uidport-open")
    assert (opened.event, opened.client_id) == ([kw("chsk/uidport-open"), "alice"], "c1")
    ws.close()
    began = time.monotonic()
    closed = await live.events.next("chsk/uidport-close")
    assert closed.event == [kw("chsk/uidport-close"), "alice"]
    assert time.monotonic() - began >= 0.25 * SCALE
    assert live.server.connected_uids == ConnectedUids()
    assert live.server.connections() == []


async def test_ws_reconnect_within_the_grace_period_is_seamless(start: Start) -> None:
    live = start(ms_allow_reconnect_before_close_ws=ms(400))
    ws = await live.ws_open("c1", uid="alice")
    ws.close()
    await live.until(lambda: _state(live.server, "ws", "alice", "c1") is ConnState.CLOSED_IN_GRACE)
    again = await live.ws_open("c1", uid="alice")
    assert _state(live.server, "ws", "alice", "c1") is ConnState.OPEN
    # a later client's uidport-open and a push to the reconnected socket prove time went by
    await asyncio.sleep(500 * MS)  # past the grace period: nothing may fire
    live.server.send("alice", [kw("my-app/still")])
    assert await read(again) == "[[[:my-app/still]] nil]"
    assert [m.data for m in live.events.of("chsk/uidport-open")] == ["alice"]
    assert live.events.of("chsk/uidport-close") == []


async def test_ajax_client_that_stops_polling_leaves_after_its_grace_period(start: Start) -> None:
    live = start(lp_timeout_ms=ms(100), ms_allow_reconnect_before_close_ajax=ms(200))
    await live.get("c1", uid="alice")
    assert body(await live.get("c1", uid="alice")) == "[:chsk/timeout nil]"
    closed = await live.events.next("chsk/uidport-close")
    assert closed.data == "alice"
    assert live.server.connected_uids == ConnectedUids()


async def test_moving_from_ajax_to_ws_keeps_the_uid_connected(start: Start) -> None:
    live = start(lp_timeout_ms=ms(100), ms_allow_reconnect_before_close_ajax=ms(200))
    await live.get("c1", uid="alice")
    assert body(await live.get("c1", uid="alice")) == "[:chsk/timeout nil]"
    await live.ws_open("c1", uid="alice")
    alice = frozenset({"alice"})
    # the client's WebSocket replaces its Ajax entry at once (newest wins across transports)
    assert live.server.connected_uids == ConnectedUids(alice, frozenset(), alice)
    assert [c.kind for c in live.server.connections("alice")] == ["ws"]
    await asyncio.sleep(300 * MS)  # past the Ajax grace period: nothing may fire
    assert len(live.events.of("chsk/uidport-open")) == 1
    assert live.events.of("chsk/uidport-close") == []


async def test_newest_ws_of_a_client_wins_and_the_old_ones_close_is_ignored(start: Start) -> None:
    live = start(ms_allow_reconnect_before_close_ws=ms(50))
    old = await live.ws_open("c1", uid="alice")
    new = await live.ws_open("c1", uid="alice")
    old.close()
    live.server.send("alice", [kw("my-app/to-newest")])
    assert await read(new) == "[[[:my-app/to-newest]] nil]"
    assert _state(live.server, "ws", "alice", "c1") is ConnState.OPEN
    await asyncio.sleep(100 * MS)  # past the grace period: the old socket's close changed nothing
    assert live.events.of("chsk/uidport-close") == []


async def test_a_client_switching_transports_gets_each_push_at_most_once(start: Start) -> None:
    # Sente retries pushes to the WebSocket entry that just closed and sends them on the next
    # WebSocket of the client, after Ajax delivered them already; the newest entry wins here
    live = start(lp_timeout_ms=ms(1_000))
    unpack = get_packer("edn").unpack
    got: list[int] = []

    def take(text: str | None) -> None:
        payload = unpack(text or "nil")[0] if text else None
        if isinstance(payload, VECTOR_TYPES) and payload and isinstance(payload[0], VECTOR_TYPES):
            got.extend(ev[1] for ev in payload if ev[0] == kw("n/x"))

    async def read_until(ws: Any, n: int) -> None:
        while len(got) < n:
            take(await read(ws))

    sent = 0
    streaming = True

    async def stream() -> None:
        nonlocal sent
        while streaming:
            live.server.send("alice", ["n/x", sent])
            sent += 1
            await asyncio.sleep(5 * MS)  # the pace of the stream

    streamer = asyncio.ensure_future(stream())
    ws = await live.ws_open("c1", uid="alice")
    await read_until(ws, 10)
    ws.close()
    before_ajax = len(got)
    await live.get("c1", uid="alice", **{"handshake?": "1"})
    while len(got) < before_ajax + 20:
        take(body(await live.get("c1", uid="alice")))
    before_ws = len(got)
    ws = await live.ws_open("c1", uid="alice")
    await read_until(ws, before_ws + 20)
    streaming = False
    await streamer
    await asyncio.wait_for(read_until_number(ws, take, got, sent - 1), 5 * S)
    assert [n for n, times in Counter(got).items() if times > 1] == []
    assert got[-1] == sent - 1
    # the replaced entries went quietly: alice stayed connected throughout
    assert [m.data for m in live.events.of("chsk/uidport-open")] == ["alice"]
    assert live.events.of("chsk/uidport-close") == []
    assert [c.kind for c in live.server.connections("alice")] == ["ws"]


async def read_until_number(
    ws: Any, take: Callable[[str | None], None], got: list[int], n: int
) -> None:
    while n not in got:
        take(await read(ws))


async def test_connection_watchers_see_open_and_close_with_the_transport(start: Start) -> None:
    live = start(ms_allow_reconnect_before_close_ws=ms(50))
    seen: list[tuple[str, str, Any, str]] = []
    live.server.watch_connections(lambda what, c: seen.append((what, c.kind, c.uid, c.client_id)))
    ws = await live.ws_open("c1", uid="alice")
    assert seen == [("open", "ws", "alice", "c1")]
    assert [c.client_id for c in live.server.connections("alice")] == ["c1"]
    ws.close()
    await live.events.next("chsk/uidport-close")
    assert seen[-1] == ("close", "ws", "alice", "c1")


async def test_close_leaves_no_connected_uid_and_tells_the_watchers_once(start: Start) -> None:
    live = start(lp_timeout_ms=ms(5_000))
    uid_changes: list[tuple[ConnectedUids, ConnectedUids]] = []
    conn_changes: list[tuple[str, str, Any]] = []
    await live.ws_open("c1", uid="alice")
    await live.get("c2", uid="bob")  # handshake
    held = asyncio.ensure_future(live.get("c2", uid="bob"))  # a held long-poll
    await live.get("c3", uid="carol")  # handshaken only: never counted
    await live.until(lambda: "bob" in live.server.connected_uids.ajax)
    live.server.watch_connected_uids(lambda old, new: uid_changes.append((old, new)))
    live.server.watch_connections(lambda what, c: conn_changes.append((what, c.kind, c.uid)))
    before = live.server.connected_uids
    assert before.any == frozenset({"alice", "bob"})

    live.server.close()
    assert live.server.connected_uids == ConnectedUids()
    assert live.server.connections() == []
    assert uid_changes == [(before, ConnectedUids())]
    assert sorted(conn_changes) == [("close", "ajax", "bob"), ("close", "ws", "alice")]
    with pytest.raises(HTTPStreamClosedError):
        (await held).rethrow()  # the held poll was dropped unanswered
    live.server.close()  # again: nothing left to tell
    assert len(uid_changes) == 1
    await asyncio.sleep(0)  # uidport events would be routed on the next loop turn
    assert live.events.of("chsk/uidport-close") == []


async def test_a_uidport_handler_may_close_the_uid_it_was_told_about(start: Start) -> None:
    live = start(ms_allow_reconnect_before_close_ws=ms(50))

    @live.server.on("chsk/uidport-open")
    def kick(msg: EventMsg) -> None:
        if msg.data == "banned":
            live.server.send("banned", [kw("chsk/close")])

    ws = await live.ws("c1", uid="banned")
    assert (await read(ws) or "").startswith("[[:chsk/handshake")
    assert await read(ws) is None
    assert (await live.events.next("chsk/uidport-close")).data == "banned"
    assert live.server.connections() == []


# -- keep-alive -------------------------------------------------------------------------------


async def test_keepalive_pings_a_silent_client_with_the_bare_keyword(start: Start) -> None:
    live = start(ws_kalive_ms=ms(200), ws_ping_timeout_ms=ms(2_000))
    ws = await live.ws_open()
    assert await read(ws) == "[:chsk/ws-ping nil]"


async def test_keepalive_closes_a_client_that_never_answers(start: Start) -> None:
    live = start(ws_kalive_ms=ms(100), ws_ping_timeout_ms=ms(100))
    ws = await live.ws_open(uid="alice")
    assert await read(ws) == "[:chsk/ws-ping nil]"
    assert await read(ws) is None
    assert ws.close_reason is not None and "keep-alive" in ws.close_reason


async def test_pongs_keep_the_connection_open(start: Start) -> None:
    live = start(ws_kalive_ms=ms(100), ws_ping_timeout_ms=ms(100))
    ws = await live.ws_open()
    for _ in range(4):
        assert await read(ws) == "[:chsk/ws-ping nil]"
        ws.write_message("[[:chsk/ws-pong] nil]")
    assert _state(live.server, "ws", NIL_UID, "c1") is ConnState.OPEN


# -- router -----------------------------------------------------------------------------------


async def test_a_failing_handler_is_logged_and_the_server_keeps_serving(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    live = start()

    @live.server.on("my-app/boom")
    def boom(msg: EventMsg) -> None:
        raise RuntimeError("handler bug")

    @live.server.on("my-app/aboom")
    async def aboom(msg: EventMsg) -> None:
        raise RuntimeError("async handler bug")

    live.server.on("my-app/echo")(echo)
    ws = await live.ws_open()
    ws.write_message('[[:my-app/boom {:a 1}] "000001"]')
    ws.write_message('[[:my-app/aboom] "000002"]')
    ws.write_message('[[:my-app/echo "fine"] "000003"]')
    assert await read(ws) == '["fine" "000003"]'
    await live.server.router.drain()
    failures = [r for r in caplog.records if "failed on event" in r.getMessage()]
    assert len(failures) == 2
    assert ":my-app/boom" in failures[0].getMessage() or "my-app/boom" in failures[0].getMessage()
    assert failures[0].exc_info is not None


# -- helpers ----------------------------------------------------------------------------------


def _state(server: ChannelSocketServer, kind: str, uid: Any, client_id: str) -> ConnState | None:
    for conn in server.connections(uid):
        if conn.kind == kind and conn.client_id == client_id:
            return conn.state
    return None


def _is_open(server: ChannelSocketServer, kind: str, uid: Any, client_id: str) -> bool:
    return _state(server, kind, uid, client_id) is ConnState.OPEN
