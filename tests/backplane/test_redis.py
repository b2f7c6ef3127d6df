"""The Redis backplane under faults, against a real redis-server that the tests kill and hang."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.backplane import BackplaneMessage, RedisBackplane
from tests.backplane.conftest import RedisServer
from tests.backplane.helpers import Inbox, seconds, until

pytestmark = [pytest.mark.redis, pytest.mark.asyncio]

Make = Callable[..., Awaitable[tuple[RedisBackplane, Inbox]]]

#: Small waits so that faults are noticed and healed within about a second; the timeouts
#: stay long enough that a busy machine does not fake a fault.
FAST = {
    "backoff_factor_ms": 20,
    "backoff_cap_ms": 100,
    "connect_timeout_ms": round(seconds(1) * 1000),
    "command_timeout_ms": round(seconds(1) * 1000),
    "ping_interval_ms": 100,
    "ping_timeout_ms": round(seconds(1) * 1000),
}


@pytest_asyncio.fixture
async def make(redis_server: RedisServer) -> AsyncIterator[Make]:
    namespace = f"t{secrets.token_hex(4)}"
    started: list[RedisBackplane] = []

    async def make(server_id: str, **opts: Any) -> tuple[RedisBackplane, Inbox]:
        bp = RedisBackplane(
            redis_server.url, server_id=server_id, namespace=namespace, **FAST | opts
        )
        inbox = Inbox()
        await bp.start(inbox)
        started.append(bp)
        return bp, inbox

    yield make
    for bp in started:
        await bp.stop()


def warnings_about(caplog: pytest.LogCaptureFixture, server_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "jupyter_sente.backplane"
        and r.levelno >= logging.WARNING
        and server_id in r.getMessage()
    ]


async def exchange(a: RedisBackplane, b: RedisBackplane, inbox_b: Inbox, body: str) -> None:
    """``a`` publishes to the room ``lobby`` and ``b`` receives it."""
    assert await a.publish(BackplaneMessage("room", "lobby", body))
    await inbox_b.wait_body(body)


async def test_redis_restart_drops_while_down_then_reconnects_and_resubscribes(
    make: Make, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jupyter_sente.backplane")
    a, inbox_a = await make("server-a")
    b, inbox_b = await make("server-b")
    await b.subscribe_room("lobby")
    await exchange(a, b, inbox_b, "before")

    redis_server.kill()
    await until(lambda: not a.health().connected and not b.health().connected, what="outage seen")
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = [await a.publish(BackplaneMessage("room", "lobby", f"lost-{i}")) for i in range(50)]
    assert loop.time() - started < seconds(0.2), "publish waited on a dead Redis"
    assert results == [False] * 50
    await b.subscribe_room("joined-while-down")  # returns at once; subscribed on reconnect
    await until(lambda: a.health().connect_failures >= 3, what="several reconnect attempts")
    assert a.health().listener_alive and b.health().listener_alive
    assert "ConnectionError" in (a.health().last_error or "")

    redis_server.start()
    assert await a.wait_connected(seconds(5)) and await b.wait_connected(seconds(5))
    for bp in (a, b):
        health = bp.health()
        assert (health.reconnects, health.ok) == (1, True)
        assert b.channel("room", "lobby") not in a.health().subscribed
    assert b.health().subscribed >= {
        b.channel("room", "lobby"),
        b.channel("room", "joined-while-down"),
    }
    assert a.health().dropped_while_down >= 50

    await exchange(a, b, inbox_b, "after")
    assert await a.publish(BackplaneMessage("room", "joined-while-down", "late-room"))
    await inbox_b.wait_body("late-room")
    assert not any(str(body).startswith("lost-") for body in inbox_b.bodies())
    assert await b.publish(BackplaneMessage("broadcast", body="b-to-a"))
    await inbox_a.wait_body("b-to-a")

    # One warning per outage and server, however many attempts and dropped messages.
    for bp in (a, b):
        lines = warnings_about(caplog, bp.server_id)
        assert len(lines) == 1, lines
        assert "lost its connection" in lines[0] and "dropped" in lines[0]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("server-a" in m and "connected again" in m and "; 50 message" in m for m in infos)


async def test_a_killed_subscriber_connection_reconnects(
    make: Make, redis_server: RedisServer
) -> None:
    a, _ = await make("server-a")
    b, inbox_b = await make("server-b")
    await b.subscribe_room("lobby")
    assert redis_server.command("CLIENT", "KILL", "TYPE", "pubsub") == b":2\r\n"
    await until(lambda: b.health().reconnects == 1 and b.health().ok, what="b resubscribed")
    await until(lambda: a.health().reconnects == 1 and a.health().ok, what="a resubscribed")
    await exchange(a, b, inbox_b, "after-kill")


async def test_redis_output_buffer_limit_kill_is_survived(
    make: Make, redis_server: RedisServer
) -> None:
    # python-socketio #1581: Redis closes a subscriber over client-output-buffer-limit and
    # the listener died. Here the subscriber must come back and receive the next messages.
    assert (
        redis_server.command("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32kb 16kb 60")
        == b"+OK\r\n"
    )
    a, _ = await make("server-a")
    b, inbox_b = await make("server-b")
    await b.subscribe_room("lobby")
    assert await a.publish(BackplaneMessage("room", "lobby", "x" * 200_000))
    await until(lambda: b.health().reconnects == 1 and b.health().ok, what="b reconnected")
    assert "x" * 200_000 not in inbox_b.bodies()
    await exchange(a, b, inbox_b, "after-overflow")
    assert a.health().reconnects == 0


async def test_a_hung_redis_never_blocks_publish_and_is_detected_by_ping(
    make: Make, redis_server: RedisServer
) -> None:
    a, _ = await make("server-a")
    b, inbox_b = await make("server-b")
    await b.subscribe_room("lobby")
    redis_server.pause()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(20):
        await a.publish(BackplaneMessage("room", "lobby", f"hung-{i}"))
    assert loop.time() - started < seconds(0.2), "publish waited on a hung Redis"
    # No connection error arrives from a hung server: the unanswered PING finds it.
    await until(lambda: not b.health().connected, timeout=3, what="hang detected")
    assert "PING" in (b.health().last_error or "")
    assert b.health().listener_alive
    redis_server.resume()
    await until(lambda: a.health().ok and b.health().ok, timeout=5, what="both reconnected")
    assert b.health().reconnects >= 1
    await exchange(a, b, inbox_b, "after-hang")


async def test_start_while_redis_is_down_keeps_trying_then_connects(
    make: Make, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.kill()
    loop = asyncio.get_running_loop()
    started = loop.time()
    a, _ = await make("server-a")
    assert loop.time() - started < seconds(1), "start waited longer than one attempt"
    health = a.health()
    assert (health.running, health.connected, health.listener_alive) == (True, False, True)
    assert await a.publish(BackplaneMessage("broadcast", body="early")) is False
    await until(lambda: a.health().connect_failures >= 2, what="retries")
    redis_server.start()
    assert await a.wait_connected(seconds(5))
    b, inbox_b = await make("server-b")
    await b.subscribe_room("lobby")
    await exchange(a, b, inbox_b, "finally")
    assert a.health().reconnects == 0  # the first connection is not a reconnect
    assert len(warnings_about(caplog, "server-a")) == 1
    assert "cannot connect" in warnings_about(caplog, "server-a")[0]


async def test_a_full_send_queue_drops_and_counts(make: Make, redis_server: RedisServer) -> None:
    a, _ = await make("server-a", max_queued=5)
    redis_server.pause()  # the writer is stuck on its first batch; the queue fills
    results = [await a.publish(BackplaneMessage("broadcast", body=i)) for i in range(20)]
    redis_server.resume()
    assert results.count(False) >= 14
    assert a.health().dropped_overflow == results.count(False)


async def test_wait_connected_times_out_while_down(make: Make, redis_server: RedisServer) -> None:
    a, _ = await make("server-a")
    redis_server.kill()
    await until(lambda: not a.health().connected, what="outage seen")
    assert await a.wait_connected(0.05) is False


async def test_the_log_and_repr_hide_the_password() -> None:
    bp = RedisBackplane("redis://user:s3cret@127.0.0.1:1/0", server_id="x")
    assert "s3cret" not in repr(bp)
    assert "user:***@127.0.0.1:1" in repr(bp)


async def test_an_idle_healthy_connection_is_kept_by_pings(
    make: Make, redis_server: RedisServer
) -> None:
    a, _ = await make("server-a")
    # Nothing to await: the point is that nothing happens over six ping intervals.
    await asyncio.sleep(seconds(0.6))
    assert (a.health().reconnects, a.health().ok) == (0, True)
    clients = redis_server.command("CLIENT", "LIST").decode()
    line = next(
        x for x in clients.splitlines() if "server-a" in x and "sub=" in x and " sub=0 " not in x
    )
    assert "cmd=ping" in line
