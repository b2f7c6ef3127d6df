"""Messages, channels and the wire format of the backplane base (no event loop needed)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_sente.backplane import BackplaneMessage, MemoryBackplane, MemoryHub, new_message_id
from jupyter_sente.exceptions import DecodeError, ProtocolError, UsageError
from jupyter_sente.values import kw


def backplane(**opts: Any) -> MemoryBackplane:
    return MemoryBackplane(hub=MemoryHub(), **{"server_id": "srv-1", "namespace": "ns"} | opts)


@pytest.mark.parametrize(
    ("kind", "target", "msg_id"),
    [
        ("uid", None, None),
        ("room", "", None),
        ("presence", 3, None),
        ("broadcast", "lobby", None),
        ("control", "", None),
        ("request", "srv-2", None),
        ("reply", "srv-2", None),
        ("room", "lobby", 7),
        ("shout", None, None),
    ],
)
def test_a_malformed_message_is_a_usage_error(kind: Any, target: Any, msg_id: Any) -> None:
    with pytest.raises(UsageError):
        BackplaneMessage(kind, target=target, id=msg_id)


def test_reply_goes_to_the_requests_origin_with_its_id() -> None:
    request = BackplaneMessage("request", "srv-2", {"q": 1}, id="abc", origin="srv-1")
    assert request.reply({"a": 2}) == BackplaneMessage("reply", "srv-1", {"a": 2}, id="abc")
    with pytest.raises(UsageError):
        BackplaneMessage("request", "srv-2", id="abc").reply(1)  # not received: no origin
    with pytest.raises(UsageError):
        BackplaneMessage("room", "lobby", origin="srv-1").reply(1)


def test_message_ids_are_fresh() -> None:
    assert len({new_message_id() for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("msg", "channel"),
    [
        (BackplaneMessage("uid", "ann"), "jupyter-sente:ns:uid:ann"),
        (BackplaneMessage("broadcast"), "jupyter-sente:ns:broadcast"),
        (BackplaneMessage("room", "a:b"), "jupyter-sente:ns:room:a:b"),
        (BackplaneMessage("presence", "lobby"), "jupyter-sente:ns:room:lobby"),
        (BackplaneMessage("request", "srv-2", id="1"), "jupyter-sente:ns:server:srv-2"),
        (BackplaneMessage("reply", "srv-2", id="1"), "jupyter-sente:ns:server:srv-2"),
        (BackplaneMessage("control", "srv-2"), "jupyter-sente:ns:server:srv-2"),
        (BackplaneMessage("control"), "jupyter-sente:ns:broadcast"),
    ],
)
def test_each_kind_has_its_channel(msg: BackplaneMessage, channel: str) -> None:
    assert backplane().channel_for(msg) == channel


def test_the_wire_carries_version_packer_and_origin_before_the_body() -> None:
    bp = backplane()
    msg = BackplaneMessage("room", "lobby", {"k": kw("x"), "s": {1}}, origin="srv-1")
    data = bp.encode(msg)
    assert data.startswith(b"jsb1 json srv-1\n[")
    assert bp.decode(data) == msg
    other = backplane(server_id="srv-2")
    assert other.decode(data) == msg


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"jsb1 edn srv-2\n[]", ProtocolError),  # another packer
        (b"jsb2 json srv-2\n[]", ProtocolError),  # another version
        (b"jsb1 json srv-2", ProtocolError),  # no header line
        (b"jsb1 json srv-2\n\xff", ProtocolError),  # not UTF-8
        (b"jsb1 json srv-2\n{", DecodeError),
        (b'jsb1 json srv-2\n["room","lobby",null]', ProtocolError),
        (b'jsb1 json srv-2\n["room",null,null,1]', ProtocolError),
        (b'jsb1 json srv-2\n["nope",null,null,1]', ProtocolError),
    ],
)
def test_garbage_on_the_wire_is_the_peers_fault(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        backplane().decode(data)


@pytest.mark.parametrize(
    "opts",
    [
        {"server_id": "has space"},
        {"server_id": "x" * 65},
        {"namespace": "a:b"},
        {"max_message_bytes": 0},
        {"backoff_factor_ms": -1},
        {"backoff_cap_ms": True},
        {"max_pending": 0},
        {"packer": "yaml"},
    ],
)
def test_bad_options_are_usage_errors(opts: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        backplane(**opts)


def test_server_ids_are_random_unless_given() -> None:
    one, two = MemoryBackplane(), MemoryBackplane()
    assert one.server_id != two.server_id
    assert backplane(server_id="fixed").server_id == "fixed"


def test_channels_for_rooms_and_uids_need_a_name() -> None:
    with pytest.raises(UsageError):
        backplane().channel("room", "")
    with pytest.raises(UsageError):
        backplane().channel("elsewhere", "x")
