"""The client's public surface is what docs/client.md says it is."""

from __future__ import annotations

import pathlib

import jupyter_sente.client as client_module
from jupyter_sente.core import client_state

DOC = pathlib.Path(__file__).parents[2] / "docs" / "client.md"

CLIENT_API = {
    "BlockingEventStream",
    "Client",
    "ClientTiming",
    "ClientType",
    "EventLike",
    "EventMsg",
    "EventStream",
    "Handler",
    "ReplyClosed",
    "ReplyError",
    "ReplyFailed",
    "ReplyTimeout",
    "ThreadedClient",
    "connect",
}

CLIENT_MEMBERS = (
    "start",
    "wait_open",
    "send",
    "request",
    "disconnect",
    "reconnect",
    "close",
    "on",
    "off",
    "on_default",
    "events",
    "state",
    "is_open",
    "uid",
    "transport",
    "closed",
    "client_id",
    "type",
    "timing",
)
THREADED_MEMBERS = (
    "send",
    "request",
    "wait_open",
    "reconnect",
    "disconnect",
    "close",
    "on",
    "off",
    "on_default",
    "events",
    "state",
    "is_open",
    "uid",
    "transport",
    "closed",
    "client_id",
    "client",
)


def test_client_exports_are_the_documented_ones() -> None:
    assert set(client_module.__all__) == CLIENT_API
    assert all(hasattr(client_module, name) for name in CLIENT_API)


def test_every_export_is_named_in_the_doc() -> None:
    doc = DOC.read_text(encoding="utf-8")
    missing = sorted(name for name in CLIENT_API if f"`{name}" not in doc)
    assert missing == []


def test_client_state_names_in_the_doc_exist() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for name in ("ConnState", "ConnInput", "TRANSITIONS", "transition", "ClientConnection"):
        assert name in doc and hasattr(client_state, name)


def test_documented_members_exist() -> None:
    client = client_module.Client("http://127.0.0.1:1/chsk")
    for name in CLIENT_MEMBERS:
        assert hasattr(client, name)
    for name in THREADED_MEMBERS:
        assert hasattr(client_module.ThreadedClient, name)
