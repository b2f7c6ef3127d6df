"""Clients that record what they receive, room events, and waits with scaled timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from jupyter_sente.client import Client, EventMsg
from jupyter_sente.core.rooms import apply_presence_diff
from jupyter_sente.values import kw
from tests.backplane.helpers import seconds

ROOM, EVENT, STATE, CONNS = kw("room"), kw("event"), kw("state"), kw("conns")
CLIENT_ID, FROM, REQUEST_ID = kw("client-id"), kw("from"), kw("request-id")
PRESENCE, DIFF = "sente.room/presence", "sente.room/presence-diff"


class Recorded:
    """A started client and every event it received, awaitable by condition."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.msgs: list[EventMsg] = []
        self._changed = asyncio.Event()
        client.on_default(self._got)
        for ev_id in ("sente.room/event", PRESENCE, DIFF):
            client.on(ev_id, self._got)

    def _got(self, msg: EventMsg) -> None:
        self.msgs.append(msg)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (``timeout`` scaled); its value."""

        async def until() -> Any:
            while not (value := predicate()):
                self._changed.clear()
                await self._changed.wait()
            return value

        try:
            return await asyncio.wait_for(until(), seconds(timeout))
        except asyncio.TimeoutError:
            got = [(m.id, m.data) for m in self.msgs[-10:]]
            raise AssertionError(f"timed out; the last events were {got}") from None

    def of(self, ev_id: str) -> list[Any]:
        """The data of every pushed ``ev_id`` event (not room events)."""
        return [m.data for m in self.msgs if m.id == ev_id]

    def room_events(self, ev_id: str) -> list[Any]:
        """The ``:sente.room/event`` data whose event is ``ev_id``."""
        return [
            m.data
            for m in self.msgs
            if m.id == "sente.room/event" and m.data[EVENT][0] == kw(ev_id)
        ]

    def presence(self, room: str) -> dict[Any, list[str]]:
        """uid -> sorted client-ids, from the last full state and the diffs after it."""
        state: dict[Any, Any] = {}
        for m in self.msgs:
            if m.id == PRESENCE and m.data[ROOM] == room:
                state = dict(m.data[STATE])
            elif m.id == DIFF and m.data[ROOM] == room:
                state = apply_presence_diff(state, m.data)
        return {u: sorted(c[CLIENT_ID] for c in e[CONNS]) for u, e in state.items()}

    def diffs_dropping(self, room: str, uid: str) -> list[int]:
        """Indexes (in ``msgs``) of presence diffs that remove a connection of ``uid``."""
        return [
            i
            for i, m in enumerate(self.msgs)
            if m.id == DIFF and m.data[ROOM] == room and uid in (m.data.get(kw("leaves")) or {})
        ]


def join(room: str, **extra: Any) -> list[Any]:
    """The ``sente.room/join`` event (``handles=[...]`` names handled event ids)."""
    return [kw("sente.room/join"), {ROOM: room, **{kw(k): v for k, v in extra.items()}}]


def publish(room: str, ev_id: str, data: Any, **extra: Any) -> list[Any]:
    return [
        kw("sente.room/publish"),
        {ROOM: room, EVENT: [kw(ev_id), data], **{kw(k): v for k, v in extra.items()}},
    ]


def request(room: str, ev_id: str, data: Any) -> list[Any]:
    return [kw("sente.room/request"), {ROOM: room, EVENT: [kw(ev_id), data]}]


def reply(request_id: str, value: Any) -> list[Any]:
    return [kw("sente.room/reply"), {REQUEST_ID: request_id, kw("value"): value}]
