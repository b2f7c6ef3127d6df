"""Room presence across servers, as pure data: no I/O, no clock (``now`` is ms, passed in).

Each server keeps a :class:`LocalPresence` per room (its own members, keyed by whatever the
room layer chooses, e.g. ``"uid/client-id"``) and publishes the bodies it returns as
``presence`` messages to the room: a *diff* on every join and leave, a full *snapshot* every
``heartbeat_ms`` (the heartbeat), ``leave-all`` when its last member leaves. Every server
merges what the others publish into a :class:`RemotePresence` per room.

Expiry: a server's entries are dropped when nothing was heard from it for
``EXPIRY_FACTOR * heartbeat_ms`` (its own heartbeat, announced in every message): 15 s with
the defaults. Delivery is at most once, so every diff carries a sequence number; a receiver
that sees a gap asks for fresh snapshots (``query``) and is whole again one round-trip later,
or at the next heartbeat at worst.

Bodies (str-keyed maps of wire values)::

    {"op": "snapshot", "seq": n, "heartbeat_ms": h, "members": {key: meta}}
    {"op": "diff", "seq": n, "heartbeat_ms": h, "joins": {key: meta}, "leaves": [key]}
    {"op": "leave-all", "seq": n}
    {"op": "query"}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from jupyter_sente.exceptions import ProtocolError, UsageError

__all__ = [
    "EXPIRY_FACTOR",
    "HEARTBEAT_MS",
    "QUERY",
    "LocalPresence",
    "MemberKey",
    "PresenceChange",
    "RemotePresence",
]

#: How often a server re-sends its members of a room (ms).
HEARTBEAT_MS: Final = 5_000
#: A server not heard from for this many of its heartbeats is gone.
EXPIRY_FACTOR: Final = 3
#: Longest heartbeat a peer may announce (ms): garbage must not make entries immortal.
_MAX_HEARTBEAT_MS: Final = 3_600_000
#: The body asking every server in the room to publish its snapshot now.
QUERY: Final[Mapping[str, str]] = MappingProxyType({"op": "query"})

MemberKey = tuple[str, str]
"""(server id, member key): one member on one server."""


def _positive_ms(name: str, value: object, limit: int = _MAX_HEARTBEAT_MS) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= limit:
        raise UsageError(f"{name} must be an integer of ms in (0, {limit}], got {value!r}")
    return value


@dataclass(frozen=True)
class PresenceChange:
    """What a merge or an expiry changed, for the room to push as a diff to its members.

    ``query_wanted``: a diff was missed, publish :data:`QUERY` to the room.
    ``snapshot_wanted``: another server asked, publish this server's snapshot to the room.
    """

    joined: Mapping[MemberKey, Any] = field(default_factory=dict)
    left: Mapping[MemberKey, Any] = field(default_factory=dict)
    updated: Mapping[MemberKey, Any] = field(default_factory=dict)
    query_wanted: bool = False
    snapshot_wanted: bool = False

    def __bool__(self) -> bool:
        """True when members joined, left or changed."""
        return bool(self.joined or self.left or self.updated)


class LocalPresence:
    """This server's members of one room, and the bodies that tell the other servers."""

    def __init__(self, heartbeat_ms: int = HEARTBEAT_MS) -> None:
        self.heartbeat_ms = _positive_ms("heartbeat_ms", heartbeat_ms)
        self.seq = 0
        self._members: dict[str, Any] = {}
        self.next_heartbeat: float | None = None

    @property
    def members(self) -> Mapping[str, Any]:
        """Member key -> meta (read-only)."""
        return MappingProxyType(self._members)

    def join(self, key: str, meta: Any) -> dict[str, Any] | None:
        """Add or update a member; the diff body to publish, ``None`` if nothing changed."""
        if not isinstance(key, str):
            raise UsageError(f"a member key is a string, got {key!r}")
        if key in self._members and self._members[key] == meta:
            return None
        self._members[key] = meta
        return self._diff({key: meta}, [])

    def leave(self, key: str) -> dict[str, Any] | None:
        """Remove a member; the diff body, or ``None`` if it was not here."""
        if self._members.pop(key, _ABSENT) is _ABSENT:
            return None
        return self._diff({}, [key])

    def snapshot(self, now: float) -> dict[str, Any]:
        """The heartbeat body (all members); the next one is due at ``next_heartbeat``."""
        self.seq += 1
        self.next_heartbeat = now + self.heartbeat_ms
        return {
            "op": "snapshot",
            "seq": self.seq,
            "heartbeat_ms": self.heartbeat_ms,
            "members": dict(self._members),
        }

    def leave_all(self) -> dict[str, Any]:
        """Forget every member; the body telling the others (send it when the room empties)."""
        self._members.clear()
        self.seq += 1
        self.next_heartbeat = None
        return {"op": "leave-all", "seq": self.seq}

    def _diff(self, joins: dict[str, Any], leaves: list[str]) -> dict[str, Any]:
        self.seq += 1
        return {
            "op": "diff",
            "seq": self.seq,
            "heartbeat_ms": self.heartbeat_ms,
            "joins": joins,
            "leaves": leaves,
        }


_ABSENT: Final = object()


@dataclass
class _Server:
    entries: dict[str, Any]
    seq: int
    last_heard: float
    heartbeat_ms: int


class RemotePresence:
    """The other servers' members of one room, merged from their presence bodies."""

    def __init__(self, expiry_factor: int = EXPIRY_FACTOR) -> None:
        if (
            not isinstance(expiry_factor, int)
            or isinstance(expiry_factor, bool)
            or expiry_factor < 1
        ):
            raise UsageError(f"expiry_factor must be an integer >= 1, got {expiry_factor!r}")
        self.expiry_factor = expiry_factor
        self._servers: dict[str, _Server] = {}

    def __len__(self) -> int:
        return sum(len(s.entries) for s in self._servers.values())

    def members(self) -> dict[MemberKey, Any]:
        """Every remote member: (server id, key) -> meta."""
        return {
            (sid, key): meta for sid, s in self._servers.items() for key, meta in s.entries.items()
        }

    def servers(self) -> frozenset[str]:
        """The servers heard from (until they leave or expire), with or without members."""
        return frozenset(self._servers)

    def apply(self, origin: str, body: Any, now: float) -> PresenceChange:
        """Merge one presence body from server ``origin``; ``ProtocolError`` if it is garbage."""
        if not isinstance(body, Mapping):
            raise ProtocolError(f"presence body from {origin} is not a map: {body!r}")
        op = body.get("op")
        if op == "query":
            server = self._servers.get(origin)
            if server is not None:
                server.last_heard = now
            return PresenceChange(snapshot_wanted=True)
        seq = body.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise ProtocolError(f"presence {op!r} from {origin} has no integer seq: {seq!r}")
        if op == "leave-all":
            return self.drop_server(origin)
        try:
            heartbeat_ms = _positive_ms("heartbeat_ms", body.get("heartbeat_ms"))
        except UsageError as exc:
            raise ProtocolError(f"presence {op!r} from {origin}: {exc}") from None
        if op == "snapshot":
            members = _str_map(body.get("members"), origin, "members")
            old = self._servers.get(origin)
            self._servers[origin] = _Server(dict(members), seq, now, heartbeat_ms)
            return _compare(origin, {} if old is None else old.entries, members)
        if op == "diff":
            joins = _str_map(body.get("joins", {}), origin, "joins")
            leaves = body.get("leaves", [])
            if isinstance(leaves, (str, bytes, Mapping)) or not isinstance(leaves, (list, tuple)):
                raise ProtocolError(
                    f"presence diff from {origin}: leaves is not a list: {leaves!r}"
                )
            server = self._servers.get(origin)
            # A diff from a server we have no snapshot of, or after a gap, leaves us partial.
            gap = server is None or seq != server.seq + 1
            if server is None:
                server = self._servers[origin] = _Server({}, seq, now, heartbeat_ms)
            before = dict(server.entries)
            for key in leaves:
                server.entries.pop(key, None)
            server.entries.update(joins)
            server.seq, server.last_heard, server.heartbeat_ms = seq, now, heartbeat_ms
            change = _compare(origin, before, server.entries)
            return PresenceChange(change.joined, change.left, change.updated, query_wanted=gap)
        raise ProtocolError(f"presence body from {origin} has unknown op {op!r}")

    def drop_server(self, origin: str) -> PresenceChange:
        """Forget every member of ``origin`` (it said goodbye, or stopped)."""
        server = self._servers.pop(origin, None)
        if server is None:
            return PresenceChange()
        return PresenceChange(left={(origin, k): m for k, m in server.entries.items()})

    def expire(self, now: float) -> PresenceChange:
        """Drop the servers not heard from for ``expiry_factor`` heartbeats; what left."""
        left: dict[MemberKey, Any] = {}
        for origin, server in list(self._servers.items()):
            if now - server.last_heard > self.expiry_factor * server.heartbeat_ms:
                del self._servers[origin]
                left.update({(origin, k): m for k, m in server.entries.items()})
        return PresenceChange(left=left)

    def next_expiry(self) -> float | None:
        """When :meth:`expire` could next drop something (ms), ``None`` with no remote members."""
        deadlines = [
            s.last_heard + self.expiry_factor * s.heartbeat_ms for s in self._servers.values()
        ]
        return min(deadlines) if deadlines else None


def _str_map(value: Any, origin: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ProtocolError(
            f"presence from {origin}: {what} is not a map of string keys: {value!r}"
        )
    return value


def _compare(origin: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> PresenceChange:
    joined = {(origin, k): m for k, m in after.items() if k not in before}
    left = {(origin, k): m for k, m in before.items() if k not in after}
    updated = {(origin, k): m for k, m in after.items() if k in before and before[k] != m}
    return PresenceChange(joined, left, updated)
