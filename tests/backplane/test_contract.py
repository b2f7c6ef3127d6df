"""The contract every backplane passes: the same tests over memory and a real Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.backplane import (
    CONTROL_BYE,
    DEFAULT_MAX_MESSAGE_BYTES,
    Backplane,
    BackplaneMessage,
    MemoryBackplane,
    MemoryHub,
    MessageTooLarge,
    OnMessage,
    RedisBackplane,
    new_message_id,
)
from jupyter_sente.exceptions import EncodeError, UsageError
from jupyter_sente.values import kw
from tests.backplane.helpers import Inbox, until

Make = Callable[..., Awaitable[tuple[Backplane, Inbox]]]

#: Wire values beyond JSON: keywords, sets, nested vectors, non-ASCII text.
RICH = {"event": [kw("chat/post"), {"text": "héllo ✓"}], "tags": {1, 2}, "n": 2.5, "ok": None}


@pytest_asyncio.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Start backplanes of one backend, sharing a hub or a Redis, in a fresh namespace."""
    namespace = f"t{secrets.token_hex(4)}"
    hub = MemoryHub()
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    started: list[Backplane] = []

    async def make(
        server_id: str, on_message: OnMessage | None = None, **opts: Any
    ) -> tuple[Backplane, Inbox]:
        opts = {"namespace": namespace, "backoff_factor_ms": 10, "backoff_cap_ms": 200} | opts
        bp: Backplane
        if url is None:
            bp = MemoryBackplane(server_id=server_id, hub=hub, **opts)
        else:
            bp = RedisBackplane(url, server_id=server_id, **opts)
        inbox = Inbox()
        await bp.start(on_message or inbox)
        started.append(bp)
        assert bp.health().ok
        return bp, inbox

    yield make
    for bp in started:
        await bp.stop()


def marker(text: str) -> BackplaneMessage:
    return BackplaneMessage("broadcast", body=f"marker:{text}")


async def assert_nothing_before_marker(sender: Backplane, inbox: Inbox, text: str) -> None:
    """``sender``'s marker arrives after anything published earlier reached ``inbox``'s server."""
    assert await sender.publish(marker(text))
    await inbox.wait_body(f"marker:{text}")
    assert inbox.bodies() == [f"marker:{text}"]


@pytest.mark.asyncio
async def test_each_kind_reaches_the_other_server_but_not_its_own(make: Make) -> None:
    a, inbox_a = await make("server-a")
    b, inbox_b = await make("server-b")
    for bp in (a, b):
        await bp.subscribe_room("lobby")
        await bp.subscribe_uid("ann")
    sent = [
        BackplaneMessage("uid", "ann", RICH),
        BackplaneMessage("broadcast", body=RICH),
        BackplaneMessage("room", "lobby", RICH),
        BackplaneMessage("presence", "lobby", {"op": "query"}),
        BackplaneMessage("request", b.server_id, RICH, id=new_message_id()),
        BackplaneMessage("control", body={"op": "hello"}),
        BackplaneMessage("control", b.server_id, {"op": "hello-b"}),
    ]
    for msg in sent:
        assert await a.publish(msg) is True
    got = await inbox_b.wait_count(len(sent))
    assert [(m.kind, m.target, m.body, m.id) for m in got] == [
        (m.kind, m.target, m.body, m.id) for m in sent
    ]
    assert {m.origin for m in got} == {a.server_id}
    assert got[0].body["event"][0] == kw("chat/post")
    await assert_nothing_before_marker(b, inbox_a, "b")


@pytest.mark.asyncio
async def test_messages_from_one_publisher_arrive_in_order(make: Make) -> None:
    a, _ = await make("server-a")
    b, inbox_b = await make("server-b")
    await b.subscribe_room("lobby")
    for i in range(300):
        kind_msg = (
            BackplaneMessage("room", "lobby", i) if i % 3 else BackplaneMessage("broadcast", body=i)
        )
        assert a.publish_nowait(kind_msg)
    got = await inbox_b.wait_count(300)
    assert [m.body for m in got] == list(range(300))


@pytest.mark.asyncio
async def test_a_reply_goes_back_to_the_requesting_server(make: Make) -> None:
    a, inbox_a = await make("server-a")
    _, inbox_c = await make("server-c")

    async def answer(msg: BackplaneMessage) -> None:
        if msg.kind == "request":
            await b.publish(msg.reply({"sum": sum(msg.body["xs"])}))

    b, _ = await make("server-b", answer)
    request = BackplaneMessage("request", b.server_id, {"xs": [1, 2, 3]}, id=new_message_id())
    assert await a.publish(request)
    reply = (await inbox_a.wait_count(1))[0]
    assert (reply.kind, reply.target, reply.id, reply.body, reply.origin) == (
        "reply",
        a.server_id,
        request.id,
        {"sum": 6},
        b.server_id,
    )
    # Server c, which neither asked nor answered, saw neither message.
    await assert_nothing_before_marker(b, inbox_c, "b")


@pytest.mark.asyncio
async def test_only_servers_listening_to_a_room_or_uid_receive_it(make: Make) -> None:
    a, _ = await make("server-a")
    b, inbox_b = await make("server-b")
    c, inbox_c = await make("server-c")
    await b.subscribe_room("lobby")
    await b.subscribe_uid("ann")
    await c.subscribe_room("other")
    await c.subscribe_room("gone")
    await c.unsubscribe_room("gone")
    assert (c.rooms(), c.uids(), b.uids()) == (frozenset({"other"}), frozenset(), {"ann"})
    await a.publish(BackplaneMessage("room", "lobby", "to-lobby"))
    await a.publish(BackplaneMessage("uid", "ann", "to-ann"))
    await a.publish(BackplaneMessage("room", "gone", "to-gone"))
    await inbox_b.wait_count(2)
    assert inbox_b.bodies() == ["to-lobby", "to-ann"]
    await assert_nothing_before_marker(a, inbox_c, "a")


@pytest.mark.asyncio
async def test_a_message_over_the_limit_is_refused_and_the_next_arrives(make: Make) -> None:
    a, _ = await make("server-a")
    b, inbox_b = await make("server-b")
    await b.subscribe_room("lobby")
    with pytest.raises(
        MessageTooLarge, match=f"over the limit of {DEFAULT_MAX_MESSAGE_BYTES}"
    ) as e:
        await a.publish(BackplaneMessage("room", "lobby", "x" * DEFAULT_MAX_MESSAGE_BYTES))
    assert e.value.size > e.value.limit == DEFAULT_MAX_MESSAGE_BYTES
    assert isinstance(e.value, UsageError)
    assert await a.publish(BackplaneMessage("room", "lobby", "small"))
    await inbox_b.wait_body("small")
    health = a.health()
    assert (health.refused_too_large, health.published, health.reconnects) == (1, 1, 0)
    assert b.health().ok and b.health().reconnects == 0


@pytest.mark.asyncio
async def test_the_limit_is_configurable_and_counts_encoded_bytes(make: Make) -> None:
    a, _ = await make("server-a", max_message_bytes=200)
    await a.publish(BackplaneMessage("broadcast", body="é" * 50))  # 100 bytes of UTF-8
    with pytest.raises(MessageTooLarge):
        await a.publish(BackplaneMessage("broadcast", body="é" * 100))


@pytest.mark.asyncio
async def test_a_body_the_packer_cannot_encode_raises_and_sends_nothing(make: Make) -> None:
    a, _ = await make("server-a")
    with pytest.raises(EncodeError):
        await a.publish(BackplaneMessage("broadcast", body=object()))
    assert a.health().published == 0


@pytest.mark.asyncio
async def test_a_failing_handler_does_not_stop_the_listener(make: Make) -> None:
    inbox = Inbox()

    def handler(msg: BackplaneMessage) -> None:
        inbox(msg)
        if msg.body == "boom":
            raise RuntimeError("handler bug")

    a, _ = await make("server-a")
    b, _ = await make("server-b", handler)
    await a.publish(BackplaneMessage("broadcast", body="boom"))
    await a.publish(BackplaneMessage("broadcast", body="after"))
    await inbox.wait_count(2)
    health = b.health()
    assert (health.handler_errors, health.received, health.ok) == (1, 2, True)


@pytest.mark.asyncio
async def test_an_async_handler_is_awaited_in_order(make: Make) -> None:
    seen: list[object] = []
    done = asyncio.Event()

    async def handler(msg: BackplaneMessage) -> None:
        await asyncio.sleep(0)
        seen.append(msg.body)
        if msg.body == 9:
            done.set()

    a, _ = await make("server-a")
    await make("server-b", handler)
    for i in range(10):
        await a.publish(BackplaneMessage("broadcast", body=i))
    await asyncio.wait_for(done.wait(), 5)
    assert seen == list(range(10))


@pytest.mark.asyncio
async def test_a_server_with_another_packer_is_counted_not_delivered(make: Make) -> None:
    a, _ = await make("server-a", packer="edn")
    b, inbox_b = await make("server-b")
    c, _ = await make("server-c")
    await a.publish(BackplaneMessage("broadcast", body="edn"))
    await c.publish(BackplaneMessage("broadcast", body="json"))
    await inbox_b.wait_body("json")
    assert inbox_b.bodies() == ["json"]
    await until(lambda: b.health().bad_messages == 1, what="bad message counted")


@pytest.mark.asyncio
async def test_stop_says_goodbye_leaves_no_task_and_is_final(make: Make) -> None:
    a, _ = await make("server-a")
    b, inbox_b = await make("server-b")
    await a.publish(BackplaneMessage("broadcast", body="last"))
    await a.stop()
    await inbox_b.wait_count(2)
    assert [(m.kind, m.body, m.origin) for m in inbox_b.messages] == [
        ("broadcast", "last", a.server_id),
        ("control", CONTROL_BYE, a.server_id),
    ]
    health = a.health()
    assert (health.running, health.connected, health.listener_alive) == (False, False, False)
    await a.stop()  # idempotent
    with pytest.raises(UsageError, match="not running"):
        await a.publish(BackplaneMessage("broadcast", body="late"))
    await b.stop()
    assert asyncio.all_tasks() == {asyncio.current_task()}


@pytest.mark.asyncio
async def test_starting_twice_is_a_usage_error(make: Make) -> None:
    a, inbox = await make("server-a")
    with pytest.raises(UsageError, match="already started"):
        await a.start(inbox)


@pytest.mark.asyncio
async def test_health_counts_published_and_received(make: Make) -> None:
    a, _ = await make("server-a")
    b, inbox_b = await make("server-b")
    for i in range(5):
        await a.publish(BackplaneMessage("broadcast", body=i))
    await inbox_b.wait_count(5)
    assert (a.health().published, b.health().received) == (5, 5)
    assert b.health().subscribed == {b.channel("broadcast"), b.channel("server", b.server_id)}


@pytest.mark.asyncio
async def test_leaving_a_room_drops_its_messages_still_in_flight(make: Make) -> None:
    a, _ = await make("server-a")
    b, inbox_b = await make("server-b")
    await b.subscribe_room("lobby")
    # No await between publishing and leaving: the message may already be on its way to b.
    a.publish_nowait(BackplaneMessage("room", "lobby", "in-flight"))
    await b.unsubscribe_room("lobby")
    await assert_nothing_before_marker(a, inbox_b, "a")
