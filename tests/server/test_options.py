"""Server options: Sente's names and defaults, validated when the server is made."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from jupyter_sente.exceptions import UsageError
from jupyter_sente.server import ChannelSocketServer, ServerOptions, no_user_id
from jupyter_sente.values import kw


def test_defaults_are_sentes() -> None:
    o = ServerOptions()
    assert (o.ws_kalive_ms, o.ws_ping_timeout_ms, o.lp_timeout_ms) == (25_000, 10_000, 20_000)
    assert (o.send_buf_ms_ws, o.send_buf_ms_ajax) == (30, 100)
    assert (o.ms_allow_reconnect_before_close_ws, o.ms_allow_reconnect_before_close_ajax) == (
        2_500,
        5_000,
    )
    assert o.allowed_origins == "all"
    assert o.packer == "edn"
    assert o.user_id_fn is no_user_id
    assert o.handshake_data_fn is None and o.authorized_fn is None and o.reject_fn is None
    assert (o.max_message_bytes, o.max_send_queue_bytes) == (1 << 20, 4 << 20)
    assert o.timing.ws_kalive_tick_ms == 12_500  # halved, as Sente does


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lp_timeout_ms": 60_000}, "lp-timeout-ms must be < 60000"),
        ({"send_buf_ms_ws": 0}, "send_buf_ms_ws"),
        ({"ws_kalive_ms": -1}, "ws_kalive_ms"),
        ({"allowed_origins": "https://site.com"}, "allowed_origins"),
        ({"packer": "yaml"}, "unknown packer"),
        ({"max_message_bytes": 0}, "max_message_bytes"),
        ({"max_send_queue_bytes": 1.5}, "max_send_queue_bytes"),
        ({"user_id_fn": None}, "user_id_fn"),
        ({"reject_fn": "no"}, "reject_fn"),
        ({"lp_timeout": 1000}, "unknown server option"),
    ],
)
def test_bad_options_are_usage_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ChannelSocketServer(**options)


def test_options_object_and_overrides_combine() -> None:
    base = ServerOptions(lp_timeout_ms=1_000, allowed_origins=["https://a.org"])
    server = ChannelSocketServer(base, send_buf_ms_ws=5)
    assert server.options.lp_timeout_ms == 1_000
    assert server.options.send_buf_ms_ws == 5
    assert server.options.allowed_origins == frozenset({"https://a.org"})


def test_keep_alive_may_be_disabled() -> None:
    assert ServerOptions(ws_kalive_ms=None).timing.ws_kalive_tick_ms is None


def test_send_outside_the_event_loop_is_a_usage_error() -> None:
    server = ChannelSocketServer(csrf_token_fn=None)
    with pytest.raises(UsageError, match="event loop"):
        server.send("alice", [kw("my-app/x")])


def test_router_refuses_unqualified_event_ids() -> None:
    server = ChannelSocketServer()
    with pytest.raises(UsageError, match="namespace-qualified"):
        server.on("echo")


def test_a_server_stays_on_the_loop_it_first_ran_on() -> None:
    server = ChannelSocketServer(csrf_token_fn=None)

    async def send() -> None:
        server.send("alice", [kw("my-app/x")])

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(send())
        errors: list[BaseException] = []

        def other_thread() -> None:
            try:
                asyncio.run(send())
            except UsageError as e:
                errors.append(e)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert len(errors) == 1 and "one event loop" in str(errors[0])
    finally:
        server.close()
        loop.close()
