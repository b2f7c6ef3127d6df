"""The shared golden wire vectors (tests/vectors/*.json), read here and by the JS tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from jupyter_sente.core.envelope import (
    is_handshake,
    is_server_ping,
    is_ws_cb_id,
    open_envelope,
    read_handshake,
)
from jupyter_sente.core.events import (
    AJAX,
    CHSK_DUMMY_CB_200,
    CHSK_TIMEOUT,
    CHSK_WS_PING,
    CHSK_WS_PONG,
    PONG,
    event_id,
    is_event,
)
from jupyter_sente.packers import get_packer
from tests.edn_paths import edn_accelerate  # noqa: F401 (a fixture, used by name)
from tests.same_value import same_value

VECTORS = Path(__file__).parent / "vectors"
WIRE = json.loads((VECTORS / "wire.json").read_text(encoding="utf-8"))
VALUES = json.loads((VECTORS / "values.json").read_text(encoding="utf-8"))
EDN = get_packer("edn")
JSON = get_packer("json")

KINDS = {
    "event",
    "reply",
    "push-batch",
    "handshake",
    "server-ping",
    "client-pong",
    "client-ping",
    "pong-reply",
    "timeout",
    "dummy-reply",
}


def expected(field: Any) -> Any:
    """An expectation field: a value in the JSON packer's encoding (``"~:ajax"`` is ``:ajax``)."""
    return JSON.unpack(json.dumps(field))


def by_name(vectors: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("vector", vectors, ids=[v["name"] for v in vectors])


@by_name(WIRE["vectors"])
@pytest.mark.usefixtures("edn_accelerate")
def test_edn_text_packs_back_exactly(vector: dict[str, Any]) -> None:
    assert EDN.pack(EDN.unpack(vector["edn"])) == vector["edn"]


@by_name(WIRE["vectors"])
def test_json_text_packs_back_exactly(vector: dict[str, Any]) -> None:
    assert JSON.pack(JSON.unpack(vector["json"])) == vector["json"]


@by_name(WIRE["vectors"])
@pytest.mark.usefixtures("edn_accelerate")
def test_edn_and_json_texts_carry_the_same_value(vector: dict[str, Any]) -> None:
    assert same_value(EDN.unpack(vector["edn"]), JSON.unpack(vector["json"]))
    assert JSON.pack(EDN.unpack(vector["edn"])) == vector["json"]
    assert EDN.pack(JSON.unpack(vector["json"])) == vector["edn"]


@by_name(WIRE["vectors"])
@pytest.mark.parametrize("packer_name", ["edn", "json"])
@pytest.mark.usefixtures("edn_accelerate")
def test_envelope_holds_the_expected_payload(vector: dict[str, Any], packer_name: str) -> None:
    packer = get_packer(packer_name)
    payload, cb_id = open_envelope(packer.unpack(vector[packer_name]))
    assert same_value(cb_id, expected(vector["cb_id"]))
    assert cb_id is None or cb_id == AJAX or is_ws_cb_id(cb_id)
    kind = vector["kind"]
    assert kind in KINDS
    if "event_ids" in vector:
        events = payload if kind == "push-batch" else [payload]
        assert all(is_event(ev) for ev in events)
        assert [event_id(ev) for ev in events] == [expected(i) for i in vector["event_ids"]]
    if kind == "handshake":
        assert is_handshake(payload)
        uid, data = read_handshake(payload)
        assert same_value(uid, expected(vector["uid"]))
        assert same_value(data, expected(vector["handshake_data"]))
    else:
        assert not is_handshake(payload)
    assert is_server_ping(payload) == (kind == "server-ping")
    if kind == "client-pong":
        assert same_value(payload, [CHSK_WS_PONG])
    if kind == "client-ping":
        assert same_value(payload, [CHSK_WS_PING])
        assert cb_id is not None
    if kind == "pong-reply":
        assert payload == PONG
    if kind == "timeout":
        assert same_value(payload, CHSK_TIMEOUT)
    if kind == "dummy-reply":
        assert same_value(payload, CHSK_DUMMY_CB_200)


@by_name([v for v in WIRE["vectors"] if "form" in v])
@pytest.mark.parametrize("packer_name", ["edn", "json"])
def test_ajax_post_form_carries_the_packed_text_as_ppstr(
    vector: dict[str, Any], packer_name: str
) -> None:
    fields = parse_qsl(vector["form"][packer_name], keep_blank_values=True, strict_parsing=True)
    assert [name for name, _ in fields] == ["udt", "client-id", "ppstr"]
    assert dict(fields) == {**WIRE["form_fields"], "ppstr": vector[packer_name]}


def test_every_row_of_the_reference_table_has_a_vector() -> None:
    rows = {v["row"] for v in WIRE["vectors"]}
    assert rows == {str(n) for n in range(1, 15)} | {"5b"}
    assert len({v["name"] for v in WIRE["vectors"]}) == len(WIRE["vectors"])


@by_name(VALUES["vectors"])
@pytest.mark.usefixtures("edn_accelerate")
def test_value_vector_texts_are_what_each_packer_writes(vector: dict[str, Any]) -> None:
    value = EDN.unpack(vector["edn"])
    assert EDN.pack(value) == vector["edn"]
    assert JSON.pack(value) == vector["json"]
    assert same_value(JSON.unpack(vector["json"]), value)
