"""The backplane seam: messages between jupyter-sente servers, and the template backends fill in.

A :class:`Backplane` does the routing (which channel a message goes to, which channels this
server listens to), the wire format (one encoding per message, its origin server id in a
header so a server skips its own messages without decoding them), the size limit, the
reconnect loop with backoff and the health counters. A backend only moves bytes: it opens a
session (connect + subscribe), serves it until the connection fails, sends, and closes.

Delivery is at most once: while the backend is down, ``publish`` drops the message (and
counts it) instead of queueing or waiting, so the caller's local delivery never stalls.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final, Literal, get_args

from jupyter_sente.core.timing import exp_backoff_ms
from jupyter_sente.exceptions import MessageTooLarge, PackError, ProtocolError, UsageError
from jupyter_sente.packers import Packer, get_packer

__all__ = [
    "CONTROL_BYE",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "KINDS",
    "WIRE_VERSION",
    "Backplane",
    "BackplaneHealth",
    "BackplaneMessage",
    "MessageKind",
    "OnMessage",
    "new_message_id",
]

MessageKind = Literal["uid", "broadcast", "room", "request", "reply", "presence", "control"]
KINDS: Final[tuple[str, ...]] = get_args(MessageKind)
#: Kinds whose ``target`` is required (a uid, a room, or a destination server id).
_TARGETED: Final = frozenset({"uid", "room", "request", "reply", "presence"})

#: 1 MiB: far below Redis's default pub/sub output buffer limits (8 MB soft, 32 MB hard).
DEFAULT_MAX_MESSAGE_BYTES: Final = 1024 * 1024
#: First bytes of every message on the wire; a new format gets a new tag.
WIRE_VERSION: Final = "jsb1"
#: The body of the ``control`` broadcast a server sends when it stops (drop its presence now).
CONTROL_BYE: Final = {"op": "bye"}

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

OnMessage = Callable[["BackplaneMessage"], Awaitable[None] | None]

log = logging.getLogger("jupyter_sente.backplane")


def new_message_id() -> str:
    """A fresh id for a request (unique enough per origin server: 64 random bits)."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class BackplaneMessage:
    """One message between servers; ``body`` is any wire value the packer can encode.

    ``target`` is the uid (``uid``), the room (``room``, ``presence``), the destination server
    id (``request``, ``reply``, and ``control`` to one server) or ``None`` (``broadcast``,
    ``control`` to all). ``origin`` is set by :meth:`Backplane.publish`.
    """

    kind: MessageKind
    target: str | None = None
    body: Any = None
    id: str | None = None
    origin: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"backplane message kind {self.kind!r} is not one of {KINDS}")
        if self.kind in _TARGETED:
            if not isinstance(self.target, str) or not self.target:
                raise UsageError(
                    f"a {self.kind!r} message needs a target string, got {self.target!r}"
                )
        elif self.kind == "broadcast" and self.target is not None:
            raise UsageError(f"a 'broadcast' message has no target, got {self.target!r}")
        elif self.target is not None and (not isinstance(self.target, str) or not self.target):
            raise UsageError(f"a control target is a server id or None, got {self.target!r}")
        if self.id is not None and not isinstance(self.id, str):
            raise UsageError(f"a message id is a string, got {self.id!r}")
        if self.kind in ("request", "reply") and self.id is None:
            raise UsageError(f"a {self.kind!r} message needs an id (new_message_id())")
        if self.origin is not None and not isinstance(self.origin, str):
            raise UsageError(f"origin is a server id, got {self.origin!r}")

    def reply(self, body: Any) -> BackplaneMessage:
        """The ``reply`` to this received ``request``: back to its origin server, same id."""
        if self.kind != "request" or self.origin is None:
            raise UsageError("only a received 'request' message (with an origin) can be replied to")
        return BackplaneMessage("reply", target=self.origin, body=body, id=self.id)


@dataclass(frozen=True)
class BackplaneHealth:
    """A snapshot of one backplane's state and counters (what a health check reads)."""

    backend: str
    server_id: str
    running: bool
    connected: bool
    listener_alive: bool
    subscribed: frozenset[str]
    reconnects: int
    connect_failures: int
    last_error: str | None
    published: int
    received: int
    dropped_while_down: int
    dropped_overflow: int
    refused_too_large: int
    bad_messages: int
    handler_errors: int

    @property
    def ok(self) -> bool:
        """Running, connected, and the listener task alive."""
        return self.running and self.connected and self.listener_alive


@dataclass
class _Stats:
    reconnects: int = 0
    connect_failures: int = 0
    published: int = 0
    received: int = 0
    dropped_while_down: int = 0
    dropped_overflow: int = 0
    refused_too_large: int = 0
    bad_messages: int = 0
    handler_errors: int = 0


def _check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise UsageError(f"{what} must be 1-64 characters from [A-Za-z0-9_.-], got {value!r}")
    return value


class Backplane(ABC):
    """Messages between servers: the routing and failure handling, over a backend's byte channels.

    ``start(on_message)`` subscribes to the broadcast channel and this server's own channel;
    ``subscribe_room``/``subscribe_uid`` add the channels of rooms and uids with local
    members. ``on_message`` is called, in order per publisher, for messages from *other*
    servers only. ``publish`` never waits for the backend: it returns ``True`` when the
    message was handed over and ``False`` when it was dropped (backend down, or its send
    queue full), and raises :class:`MessageTooLarge` over ``max_message_bytes``.
    """

    #: The backend's name, as :class:`BackplaneHealth` reports it.
    backend: ClassVar[str] = "abstract"

    def __init__(
        self,
        *,
        server_id: str | None = None,
        namespace: str = "default",
        packer: str | Packer = "json",
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        backoff_factor_ms: int = 200,
        backoff_cap_ms: int = 10_000,
        stop_flush_timeout_ms: int = 1_000,
    ) -> None:
        self.server_id = _check_name("server_id", server_id or secrets.token_hex(6))
        self.namespace = _check_name("namespace", namespace)
        self.packer = get_packer(packer)
        for name, value in (
            ("max_message_bytes", max_message_bytes),
            ("backoff_factor_ms", backoff_factor_ms),
            ("backoff_cap_ms", backoff_cap_ms),
            ("stop_flush_timeout_ms", stop_flush_timeout_ms),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        self.max_message_bytes = max_message_bytes
        self.backoff_factor_ms = backoff_factor_ms
        self.backoff_cap_ms = backoff_cap_ms
        self.stop_flush_timeout_ms = stop_flush_timeout_ms

        self._prefix = f"jupyter-sente:{self.namespace}:"
        self._wire_prefix = f"{WIRE_VERSION} {self.packer.name} ".encode()
        self._own_header = self._wire_prefix + self.server_id.encode() + b"\n"
        self._wanted: set[str] = {self.channel("broadcast"), self.channel("server", self.server_id)}
        self._active: set[str] = set()
        self._stats = _Stats()
        self._on_message: OnMessage | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._live = False
        self._connected = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._down_since: float | None = None
        self._dropped_before_outage = 0
        self._ever_up = False
        self._last_error: str | None = None

    # ---- channels --------------------------------------------------------------------------

    def channel(self, space: str, name: str | None = None) -> str:
        """The channel name for ``space`` (``broadcast``, ``server``, ``room``, ``uid``) and name."""
        if space == "broadcast":
            return self._prefix + "broadcast"
        if space not in ("server", "room", "uid") or not isinstance(name, str) or not name:
            raise UsageError(f"no channel for space {space!r} and name {name!r}")
        return f"{self._prefix}{space}:{name}"

    def channel_for(self, msg: BackplaneMessage) -> str:
        """The channel ``msg`` is published on."""
        kind = msg.kind
        if kind in ("room", "presence"):
            return self.channel("room", msg.target)
        if kind == "uid":
            return self.channel("uid", msg.target)
        if kind in ("request", "reply") or (kind == "control" and msg.target is not None):
            return self.channel("server", msg.target)
        return self.channel("broadcast")

    async def subscribe_room(self, room: str) -> None:
        """Receive the room's messages and presence (call when it gets its first local member)."""
        await self._want(self.channel("room", room))

    async def unsubscribe_room(self, room: str) -> None:
        """Stop receiving the room's messages (call when its last local member leaves)."""
        await self._unwant(self.channel("room", room))

    async def subscribe_uid(self, uid: str) -> None:
        """Receive per-uid sends for ``uid`` (call when it opens its first local connection)."""
        await self._want(self.channel("uid", uid))

    async def unsubscribe_uid(self, uid: str) -> None:
        """Stop receiving per-uid sends for ``uid``."""
        await self._unwant(self.channel("uid", uid))

    def rooms(self) -> frozenset[str]:
        """The rooms this backplane listens to."""
        return self._names("room")

    def uids(self) -> frozenset[str]:
        """The uids this backplane listens to."""
        return self._names("uid")

    def _names(self, space: str) -> frozenset[str]:
        head = f"{self._prefix}{space}:"
        return frozenset(c[len(head) :] for c in self._wanted if c.startswith(head))

    async def _want(self, channel: str) -> None:
        if channel in self._wanted:
            return
        self._wanted.add(channel)
        await self._sync_channel(channel)

    async def _unwant(self, channel: str) -> None:
        if channel not in self._wanted:
            return
        self._wanted.discard(channel)
        await self._sync_channel(channel)

    async def _sync_channel(self, channel: str) -> None:
        # While down, the next session subscribes to whatever is wanted then.
        if not self._live:
            return
        try:
            if channel in self._wanted and channel not in self._active:
                await self._subscribe([channel])
                if channel in self._wanted:
                    self._active.add(channel)
            elif channel not in self._wanted and channel in self._active:
                self._active.discard(channel)
                await self._unsubscribe([channel])
        except Exception as exc:
            # The backend tore its session down; the reconnect loop resubscribes everything.
            self._last_error = _describe_error(exc)
            log.debug("%s: (un)subscribe %s failed: %s", self, channel, self._last_error)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        """Start listening; returns after the first connection attempt (it keeps retrying)."""
        if self._running or self._task is not None:
            raise UsageError(f"{self} is already started")
        self._on_message = on_message
        self._running = True
        self._task = asyncio.create_task(self._run(), name=f"backplane-{self.server_id}")
        self._task.add_done_callback(self._run_ended)
        first = asyncio.ensure_future(self._first_attempt.wait())
        await asyncio.wait({first, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not first.done():
            first.cancel()
            await asyncio.wait({first})

    async def stop(self) -> None:
        """Say goodbye to the other servers, flush what is queued (briefly), close; idempotent."""
        task = self._task
        if not self._running or task is None:
            return
        if self._live:
            try:
                self.publish_nowait(BackplaneMessage("control", body=dict(CONTROL_BYE)))
                await self._flush(self.stop_flush_timeout_ms / 1000)
            except Exception as exc:  # a failed goodbye must not stop the stop
                log.debug("%s: goodbye failed: %s", self, _describe_error(exc))
        self._running = False
        task.cancel()
        await asyncio.wait({task})
        self._task = None

    async def wait_connected(self, timeout_s: float | None = None) -> bool:
        """Wait until connected and subscribed; ``False`` if ``timeout_s`` passed first."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    def health(self) -> BackplaneHealth:
        """The current state and counters."""
        s = self._stats
        return BackplaneHealth(
            backend=self.backend,
            server_id=self.server_id,
            running=self._running,
            connected=self._live,
            listener_alive=self._task is not None and not self._task.done(),
            subscribed=frozenset(self._active),
            reconnects=s.reconnects,
            connect_failures=s.connect_failures,
            last_error=self._last_error,
            published=s.published,
            received=s.received,
            dropped_while_down=s.dropped_while_down,
            dropped_overflow=s.dropped_overflow,
            refused_too_large=s.refused_too_large,
            bad_messages=s.bad_messages,
            handler_errors=s.handler_errors,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.server_id} {self._describe()}>"

    async def _run(self) -> None:
        attempt = 0
        while self._running:
            try:
                await self._open_session()
            except asyncio.CancelledError:
                await self._end_session()
                raise
            except Exception as exc:
                await self._end_session()
                self._went_down(exc, connecting=True)
            else:
                attempt = 0
                try:
                    await self._serve()
                    raise ConnectionError("the backend stopped listening")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._went_down(exc, connecting=False)
                finally:
                    await self._end_session()
            self._first_attempt.set()
            delay_ms = exp_backoff_ms(
                attempt, random.random(), factor=self.backoff_factor_ms, cap_ms=self.backoff_cap_ms
            )
            attempt += 1
            await asyncio.sleep(delay_ms / 1000)

    async def _open_session(self) -> None:
        opened = frozenset(self._wanted)
        await self._open(opened)
        self._active = set(opened)
        # Rooms joined or left while the session opened: settle them before going live.
        while True:
            extra = self._active - self._wanted
            missing = self._wanted - self._active
            if not extra and not missing:
                break
            if extra:
                await self._unsubscribe(sorted(extra))
                self._active -= extra
            if missing:
                await self._subscribe(sorted(missing))
                self._active |= missing
        self._came_up()

    async def _end_session(self) -> None:
        self._live = False
        self._connected.clear()
        self._active.clear()
        try:
            await self._close()
        except Exception as exc:  # _close must not raise; if it does, say so and go on
            log.warning("%s: closing the session failed: %s", self, _describe_error(exc))

    def _came_up(self) -> None:
        if self._ever_up:
            self._stats.reconnects += 1
        if self._down_since is not None:
            loop = asyncio.get_running_loop()
            log.info(
                "%s: connected again after %.1f s; %d message(s) were dropped while down",
                self,
                loop.time() - self._down_since,
                self._stats.dropped_while_down - self._dropped_before_outage,
            )
        self._down_since = None
        self._ever_up = True
        self._live = True
        self._connected.set()
        self._first_attempt.set()

    def _went_down(self, exc: BaseException, *, connecting: bool) -> None:
        self._last_error = _describe_error(exc)
        if connecting:
            self._stats.connect_failures += 1
        if self._down_since is None:
            self._down_since = asyncio.get_running_loop().time()
            self._dropped_before_outage = self._stats.dropped_while_down
            what = "cannot connect" if connecting else "lost its connection"
            # Once per outage: a reconnect loop must not flood the log.
            log.warning(
                "%s: %s (%s); messages published meanwhile are dropped; reconnecting",
                self,
                what,
                self._last_error,
            )
        else:
            log.debug("%s: still down: %s", self, self._last_error)

    def _run_ended(self, task: asyncio.Task[None]) -> None:
        self._live = False
        self._connected.clear()
        self._first_attempt.set()
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self._last_error = _describe_error(exc) if exc else None
            log.error("%s: the listener died", self, exc_info=exc)

    # ---- publishing and receiving ----------------------------------------------------------

    async def publish(self, msg: BackplaneMessage) -> bool:
        """Publish ``msg`` to the other servers (never waits); see :meth:`publish_nowait`."""
        return self.publish_nowait(msg)

    def publish_nowait(self, msg: BackplaneMessage) -> bool:
        """Hand ``msg`` to the backend: ``True`` if taken, ``False`` if dropped (down or full).

        Raises :class:`MessageTooLarge` over ``max_message_bytes``, a ``PackError`` if the body
        cannot be encoded, and :class:`UsageError` when the backplane is not running.
        """
        if not self._running:
            raise UsageError(f"{self} is not running: call start() first")
        if msg.origin != self.server_id:
            msg = replace(msg, origin=self.server_id)
        data = self.encode(msg)
        if len(data) > self.max_message_bytes:
            self._stats.refused_too_large += 1
            raise MessageTooLarge(len(data), self.max_message_bytes, f"{msg.kind!r} message")
        if not self._live:
            self._stats.dropped_while_down += 1
            return False
        if not self._send(self.channel_for(msg), data):
            self._stats.dropped_overflow += 1
            return False
        self._stats.published += 1
        return True

    def encode(self, msg: BackplaneMessage) -> bytes:
        """The wire bytes: ``jsb1 <packer> <origin>\\n`` then the packed ``[kind target id body]``."""
        packed = self.packer.pack([msg.kind, msg.target, msg.id, msg.body])
        return self._wire_prefix + (msg.origin or self.server_id).encode() + b"\n" + packed.encode()

    def decode(self, data: bytes) -> BackplaneMessage:
        """The message in ``data``; ``ProtocolError`` or ``PackError`` for anything else."""
        if not data.startswith(self._wire_prefix):
            head = data[:40].split(b"\n", 1)[0]
            raise ProtocolError(
                f"backplane message starts with {head!r}, expected {self._wire_prefix!r}"
                " (all servers must use the same wire version and packer)"
            )
        end = data.find(b"\n", len(self._wire_prefix))
        if end < 0:
            raise ProtocolError("backplane message has no header line")
        origin = data[len(self._wire_prefix) : end].decode("ascii", "replace")
        try:
            text = data[end + 1 :].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"backplane message from {origin} is not UTF-8: {exc}") from None
        value = self.packer.unpack(text)
        if not isinstance(value, (list, tuple)) or len(value) != 4:
            raise ProtocolError(f"backplane message from {origin} is not [kind target id body]")
        kind, target, msg_id, body = value
        try:
            return BackplaneMessage(kind, target=target, body=body, id=msg_id, origin=origin)
        except UsageError as exc:
            raise ProtocolError(f"backplane message from {origin}: {exc}") from None

    async def _deliver(self, channel: str, data: bytes) -> None:
        """Called by the backend for every message received on ``channel``."""
        # Own messages are skipped by header, before any decoding; a channel left since
        # the message was sent is skipped too, so unsubscribing takes effect at once.
        if data.startswith(self._own_header) or channel not in self._wanted:
            return
        try:
            msg = self.decode(data)
        except (PackError, ProtocolError) as exc:
            self._stats.bad_messages += 1
            n = self._stats.bad_messages
            level = logging.WARNING if n == 1 or n % 1000 == 0 else logging.DEBUG
            log.log(level, "%s: dropped bad message #%d on %s: %s", self, n, channel, exc)
            return
        self._stats.received += 1
        handler = self._on_message
        if handler is None:
            return
        try:
            result = handler(msg)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self._stats.handler_errors += 1
            log.exception("%s: on_message failed for a %r message", self, msg.kind)

    # ---- what a backend implements ---------------------------------------------------------

    @abstractmethod
    async def _open(self, channels: Collection[str]) -> None:
        """Connect and subscribe to ``channels``; return once they are confirmed, or raise."""

    @abstractmethod
    async def _serve(self) -> None:
        """Receive (calling :meth:`_deliver`) until the connection fails: raise then."""

    @abstractmethod
    async def _close(self) -> None:
        """Release the session (connections, tasks); called after every session, even failed."""

    @abstractmethod
    async def _subscribe(self, channels: Collection[str]) -> None:
        """Add channels to the live session; return once confirmed."""

    @abstractmethod
    async def _unsubscribe(self, channels: Collection[str]) -> None:
        """Remove channels from the live session."""

    @abstractmethod
    def _send(self, channel: str, data: bytes) -> bool:
        """Take ``data`` for ``channel`` without waiting; ``False`` if it cannot (queue full)."""

    async def _flush(self, timeout_s: float) -> None:
        """Wait (up to ``timeout_s``) until what was taken by :meth:`_send` is sent."""
        return

    def _describe(self) -> str:
        """Where the backend connects, for logs (no secrets)."""
        return self.backend


def _describe_error(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
