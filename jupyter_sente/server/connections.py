"""Client connections by (transport, uid, client-id), and the ``connected-uids`` they make."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from jupyter_sente.core.server_conn import ConnEvent, ConnState, is_counted, transition
from jupyter_sente.server.channel import ServerChannel, Transport
from jupyter_sente.server.request import RequestInfo

__all__ = ["ConnKey", "ConnectedUids", "Connection", "ConnectionTable", "UidChange"]

ConnKey = tuple[Transport, Hashable, str]


@dataclass(frozen=True)
class ConnectedUids:
    """Sente's ``connected-uids``: uids with a WebSocket client, with an Ajax client, with either."""

    ws: frozenset[Any] = field(default_factory=frozenset)
    ajax: frozenset[Any] = field(default_factory=frozenset)
    any: frozenset[Any] = field(default_factory=frozenset)


class Connection:
    """One client (a tab, a kernel) of one uid on one transport, across its reconnects and repolls.

    Read-only for applications. ``channel`` is the live transport while ``state`` is OPEN;
    ``conn_id`` names the newest request or socket (Sente's 6-character conn-id), so a close
    from a superseded one is recognised and ignored.
    """

    __slots__ = (
        "_grace",
        "_logged",
        "_sent",
        "_skip",
        "_skip_until",
        "channel",
        "client_id",
        "conn_id",
        "kind",
        "request",
        "state",
        "uid",
    )

    def __init__(
        self, kind: Transport, uid: Hashable, client_id: str, conn_id: str, request: RequestInfo
    ) -> None:
        self.kind: Transport = kind
        self.uid = uid
        self.client_id = client_id
        self.conn_id = conn_id
        self.request = request
        self.state = ConnState.HANDSHAKING
        self.channel: ServerChannel | None = None
        self._grace: asyncio.TimerHandle | None = None
        self._logged: set[str] = set()
        # the server's delivery ledger: batches sent lately (oldest first), and the event
        # numbers an entry that replaced another must not send again, until a time
        self._sent: deque[Any] = deque()
        self._skip: frozenset[int] = frozenset()
        self._skip_until = 0.0

    @property
    def key(self) -> ConnKey:
        """``(kind, uid, client_id)``."""
        return (self.kind, self.uid, self.client_id)

    @property
    def is_open(self) -> bool:
        """True while a live channel is attached."""
        return self.state is ConnState.OPEN and self.channel is not None and self.channel.is_open

    def __repr__(self) -> str:
        return (
            f"Connection({self.kind}, uid={self.uid!r}, client_id={self.client_id!r}, "
            f"state={self.state.value}, conn_id={self.conn_id!r})"
        )


@dataclass(frozen=True)
class UidChange:
    """What a move did to ``connected-uids``: whether the sets changed, and the uid's ``any`` membership."""

    changed: bool = False
    entered_any: bool = False
    left_any: bool = False


_NO_CHANGE = UidChange()


class ConnectionTable:
    """The connection entries and the uid sets they imply; no I/O, no timers.

    The sets are kept mutable and frozen into a :class:`ConnectedUids` only when read, so a
    server with thousands of clients and no watcher pays nothing per connect.
    """

    def __init__(self) -> None:
        self._conns: dict[ConnKey, Connection] = {}
        # the same entries by transport: a flush to everyone reads one transport's entries
        self._by_kind: dict[Transport, dict[ConnKey, Connection]] = {"ws": {}, "ajax": {}}
        self._by_uid: dict[tuple[Transport, Hashable], dict[str, Connection]] = {}
        self._counted: dict[tuple[Transport, Hashable], int] = {}
        self._sets: dict[str, set[Any]] = {"ws": set(), "ajax": set(), "any": set()}
        self._snapshot: ConnectedUids | None = ConnectedUids()

    def __len__(self) -> int:
        return len(self._conns)

    @property
    def uids(self) -> ConnectedUids:
        """The current ``connected-uids`` (an immutable snapshot)."""
        if self._snapshot is None:
            s = self._sets
            self._snapshot = ConnectedUids(
                frozenset(s["ws"]), frozenset(s["ajax"]), frozenset(s["any"])
            )
        return self._snapshot

    def get(self, kind: Transport, uid: Hashable, client_id: str) -> Connection | None:
        """The entry for (kind, uid, client-id), if any."""
        return self._conns.get((kind, uid, client_id))

    def add(self, conn: Connection) -> None:
        """Put a new (HANDSHAKING) entry in."""
        key = conn.key
        self._conns[key] = conn
        self._by_kind[conn.kind][key] = conn
        self._by_uid.setdefault((conn.kind, conn.uid), {})[conn.client_id] = conn

    def other(self, conn: Connection) -> Connection | None:
        """The entry of the same client (uid, client-id) on the other transport, if any."""
        return self._conns.get(("ajax" if conn.kind == "ws" else "ws", conn.uid, conn.client_id))

    def of_uid(self, kind: Transport, uid: Hashable) -> list[Connection]:
        """The uid's entries for one transport (a snapshot)."""
        return list(self._by_uid.get((kind, uid), {}).values())

    def all(self, kind: Transport | None = None) -> list[Connection]:
        """Every entry, or every entry of one transport (a snapshot)."""
        return list((self._conns if kind is None else self._by_kind[kind]).values())

    def count(self, kind: Transport) -> int:
        """How many entries one transport has."""
        return len(self._by_kind[kind])

    def apply(self, conn: Connection, event: ConnEvent) -> UidChange:
        """Move ``conn`` by ``event`` (``TransitionError`` if illegal) and update the uid sets."""
        was = is_counted(conn.state)
        conn.state = transition(conn.state, event)
        now = is_counted(conn.state)
        if conn.state is ConnState.GONE:
            self._remove(conn)
        if was == now:
            return _NO_CHANGE
        return self._recount(conn.kind, conn.uid, 1 if now else -1)

    def _remove(self, conn: Connection) -> None:
        key = conn.key
        if self._conns.get(key) is conn:
            del self._conns[key]
            del self._by_kind[conn.kind][key]
        peers = self._by_uid.get((conn.kind, conn.uid))
        if peers is not None and peers.get(conn.client_id) is conn:
            del peers[conn.client_id]
            if not peers:
                del self._by_uid[(conn.kind, conn.uid)]

    def _recount(self, kind: Transport, uid: Hashable, delta: int) -> UidChange:
        key = (kind, uid)
        count = self._counted.get(key, 0) + delta
        if count:
            self._counted[key] = count
        else:
            del self._counted[key]
        s = self._sets
        changed = False
        member = count > 0
        if (uid in s[kind]) != member:
            (s[kind].add if member else s[kind].discard)(uid)
            changed = True
        any_member = uid in s["ws"] or uid in s["ajax"]
        entered = any_member and uid not in s["any"]
        left = not any_member and uid in s["any"]
        if entered:
            s["any"].add(uid)
        elif left:
            s["any"].discard(uid)
        if not (changed or entered or left):
            return _NO_CHANGE
        self._snapshot = None
        return UidChange(True, entered, left)
