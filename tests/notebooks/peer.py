"""A program in a room: the Python client speaking the ``sente.room`` events, from outside the kernel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jupyter_sente.client import Client, EventMsg
from jupyter_sente.core.rooms import K_EVENT, K_ROOM, ROOM_EVENT, ROOM_JOIN, ROOM_PUBLISH, join_data
from jupyter_sente.packers.plain import event_from_plain, to_plain
from tests.e2e.jupyter_process import S
from tests.waits import Changes


@dataclass(frozen=True)
class RoomEvent:
    """One event pushed to the peer by a room, as plain data."""

    room: str
    id: str
    data: Any
    sender: dict[str, Any]


class RoomPeer:
    """Joins rooms and publishes to them; records every room event it receives."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.events: list[RoomEvent] = []
        self._changes = Changes()
        client.on(ROOM_EVENT, self._on_event)

    def _on_event(self, msg: EventMsg) -> None:
        d = to_plain(msg.data)
        ev = d["event"]
        self.events.append(RoomEvent(d["room"], ev[0], ev[1] if len(ev) > 1 else None, d["from"]))
        self._changes.poke()

    async def join(self, room: str) -> dict[str, Any]:
        """Join ``room``; the server's answer (plain), which must say ok."""
        reply = to_plain(
            await self.client.request([ROOM_JOIN, join_data(room, kind="program")], timeout=10 * S)
        )
        assert reply.get("ok?") is True, reply
        return dict(reply)

    async def publish(self, room: str, event_id: str, data: Any) -> None:
        """Publish ``[event_id data]`` to everyone else in ``room``."""
        ev = event_from_plain(event_id, data)
        reply = await self.client.request(
            [ROOM_PUBLISH, {K_ROOM: room, K_EVENT: ev}], timeout=10 * S
        )
        assert to_plain(reply).get("ok?") is True, reply

    def of(self, event_id: str) -> list[RoomEvent]:
        """The events of one id received so far."""
        return [e for e in self.events if e.id == event_id]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10 * S) -> Any:
        """Wait until ``predicate()`` is truthy; return its value."""
        return await self._changes.until(predicate, timeout)
