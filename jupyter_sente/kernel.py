"""The cell API: ``jupyter_sente.room("lobby")`` from a kernel started by a Jupyter server.

::

    import jupyter_sente as sente

    room = sente.room("lobby")           # connects this kernel once, joins "lobby"

    @room.on("chat/post")                # every "chat/post" published in the room
    def on_post(msg):                    # msg.data, msg.sender, msg.reply(value)
        print(msg.sender.name, msg.data["text"])

    room.publish("chat/post", {"text": "hello"})
    reply = room.request("dash/query", {"q": 1}, timeout=5)
    room.members                         # presence, a traitlets List (room.observe(...))

The kernel connects once, through a :class:`~jupyter_sente.client.ThreadedClient`, with the
URL and secret the server exported (``JUPYTER_SENTE_URL``, ``JUPYTER_SENTE_KERNEL_SECRET``),
as the server's owner and with client-id ``kernel-<kernel id>``. Handlers and presence updates
run on one handler thread, in the order they arrived, so they keep running while a cell
blocks (``time.sleep(30)``). Data are plain Python (:mod:`jupyter_sente.packers.plain`).
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from traitlets import Bool, HasTraits, List, Unicode

from jupyter_sente.client import EventMsg, ThreadedClient
from jupyter_sente.core.events import CHSK_CLOSED, CHSK_ERROR, is_event, is_reply_error
from jupyter_sente.core.replies import reply_error
from jupyter_sente.core.rooms import (
    K_CLIENT_ID,
    K_DISPLAY_NAME,
    K_ERROR,
    K_EVENT,
    K_FROM,
    K_INCLUDE_SELF,
    K_KIND,
    K_NAME,
    K_OK,
    K_REQUEST_ID,
    K_ROOM,
    K_STATE,
    K_TIMEOUT_MS,
    K_UID,
    K_VALUE,
    ROOM_EVENT,
    ROOM_HANDLERS,
    ROOM_JOIN,
    ROOM_LEAVE,
    ROOM_PRESENCE,
    ROOM_PRESENCE_DIFF,
    ROOM_PUBLISH,
    ROOM_REPLY,
    ROOM_REQUEST,
    apply_presence_diff,
    check_room_name,
    join_data,
    presence_members,
)
from jupyter_sente.exceptions import ReplyClosed, ReplyError, UsageError
from jupyter_sente.jupyter.kernel_auth import (
    AUTH_SCHEME,
    ENV_PACKER,
    ENV_SECRET,
    ENV_URL,
    KERNEL_CLIENT_PREFIX,
)
from jupyter_sente.packers.plain import event_from_plain, from_plain, to_plain
from jupyter_sente.values import MAP_TYPES, Keyword, kw

__all__ = ["KernelPeer", "Message", "Room", "Sender", "connection", "room", "rooms"]

log = logging.getLogger("jupyter_sente.kernel")

H = TypeVar("H", bound=Callable[..., Any])

#: Seconds the kernel waits for its connection to open.
OPEN_TIMEOUT = 10.0
#: Extra seconds the kernel's client waits beyond a request's timeout: the server's
#: ``:chsk/timeout`` (or ``:chsk/closed``) then decides, not a race of two timers.
_REPLY_MARGIN = 1.0


@dataclass(frozen=True)
class Sender:
    """Who sent an event into the room."""

    uid: Hashable
    name: str
    display_name: str
    client_id: str
    kind: str

    @classmethod
    def of(cls, wire: Any) -> Sender:
        """The sender from a pushed event's ``:from`` map."""
        m = wire if isinstance(wire, MAP_TYPES) else {}
        uid = m.get(K_UID)
        name = m.get(K_NAME) or str(uid)
        return cls(
            uid=to_plain(uid),
            name=name,
            display_name=m.get(K_DISPLAY_NAME) or name,
            client_id=m.get(K_CLIENT_ID) or "",
            kind=m.get(K_KIND) or "",
        )


@dataclass(frozen=True)
class Message:
    """One event received in a room: ``event`` id, plain ``data``, ``sender``; ``reply`` for requests."""

    room: str
    event: str
    data: Any
    sender: Sender
    request_id: str | None = None
    _peer: KernelPeer | None = field(default=None, repr=False, compare=False)

    @property
    def wants_reply(self) -> bool:
        """True for a request (someone waits for :meth:`reply`)."""
        return self.request_id is not None

    def reply(self, value: Any) -> None:
        """Answer the request with ``value`` (plain Python); only the first answer counts."""
        if self.request_id is None or self._peer is None:
            raise UsageError(f"{self.event} was published, not requested: nobody waits for a reply")
        self._peer.send_reply(self.request_id, from_plain(value))


@dataclass
class _Handler:
    fn: Callable[[Message], Any]
    key: tuple[str, str]


def _handler_key(fn: Callable[..., Any]) -> tuple[str, str]:
    # A cell that runs again defines a new function object with the same module and name:
    # keying by them makes the new definition replace the old one instead of adding to it.
    return (getattr(fn, "__module__", "") or "", getattr(fn, "__qualname__", "") or repr(fn))


class Room(HasTraits):
    """A room this kernel is in: handlers, publish, request, and presence in ``members``.

    ``members`` is a list of presence entries (plain dicts: ``uid``, ``name``,
    ``display-name``, ``initials``, ``color``, ``avatar-url``, ``conns`` with each connection's
    ``client-id``, ``kind`` and, for kernels, ``notebook``), sorted by uid; observe it with
    ``room.observe(callback, names="members")``.
    """

    name = Unicode(read_only=True, help="The room's name.")
    members: List[dict[str, Any]] = List(help="Presence: one entry per uid, with its connections.")
    joined = Bool(False, help="True while this kernel is in the room.")

    def __init__(self, peer: KernelPeer, name: str) -> None:
        super().__init__()
        self.set_trait("name", name)
        self._peer = peer
        self._handlers: dict[str, list[_Handler]] = {}
        self._state: dict[Any, Any] = {}
        self._state_pushed = False

    def __repr__(self) -> str:
        who = ", ".join(str(m.get("uid")) for m in self.members)
        return f"<Room {self.name!r} {'joined' if self.joined else 'left'}; members: {who or '-'}>"

    # -- handlers ----------------------------------------------------------------------------

    def on(self, event_id: str, handler: H | None = None) -> Any:
        """Run ``handler(msg)`` for every ``event_id`` in this room (usable as a decorator).

        A handler with the same module and name as an earlier one for this id replaces it, so
        running a cell again does not add a second handler. A request (``msg.wants_reply``)
        is answered by ``msg.reply(value)``, or by the handler's return value if it is not
        ``None``; a handler that raises answers ``:chsk/error``.
        """
        ev_id = _event_id(event_id)

        def register(fn: H) -> H:
            if not callable(fn):
                raise UsageError(f"a handler must be callable, got {fn!r}")
            key = _handler_key(fn)
            with self._peer.lock:
                kept = [h for h in self._handlers.get(ev_id, []) if h.key != key]
                first = not kept
                self._handlers[ev_id] = [*kept, _Handler(fn, key)]
            if first and self.joined:
                self._peer.announce_handlers(self)
            return fn

        return register if handler is None else register(handler)

    def off(self, event_id: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` (or every handler) for ``event_id``."""
        ev_id = _event_id(event_id)
        with self._peer.lock:
            handlers = self._handlers.get(ev_id, [])
            kept = (
                [h for h in handlers if h.key != _handler_key(handler)]
                if handler is not None
                else []
            )
            if kept:
                self._handlers[ev_id] = kept
            else:
                self._handlers.pop(ev_id, None)
            gone = not kept and bool(handlers)
        if gone and self.joined:
            self._peer.announce_handlers(self)

    def handled_ids(self) -> list[str]:
        """The event ids this kernel handles in the room."""
        with self._peer.lock:
            return sorted(self._handlers)

    # -- sending -----------------------------------------------------------------------------

    def publish(self, event_id: str, data: Any = None, *, include_self: bool = False) -> bool:
        """Send ``[event_id data]`` to every member (this kernel too with ``include_self``).

        Fire-and-forget (Sente's delivery: at most once); False if the kernel is not connected.
        """
        self._check_joined()
        ev = event_from_plain(_event_id(event_id), data)
        return self._peer.send(
            [ROOM_PUBLISH, {K_ROOM: self.name, K_EVENT: ev, K_INCLUDE_SELF: include_self}]
        )

    def request(self, event_id: str, data: Any = None, *, timeout: float = 5.0) -> Any:
        """Send ``[event_id data]`` to one member that handles it and return its reply (plain).

        Raises :class:`~jupyter_sente.exceptions.ReplyTimeout` when nobody answers within
        ``timeout`` seconds, ``ReplyClosed`` when no member handles the id (or the handler
        left), ``ReplyFailed`` when the handler failed.
        """
        self._check_joined()
        if not timeout > 0:
            raise UsageError(f"a request needs a positive timeout, got {timeout!r}")
        ev = event_from_plain(_event_id(event_id), data)
        body = {K_ROOM: self.name, K_EVENT: ev, K_TIMEOUT_MS: max(1, round(timeout * 1000))}
        value = self._peer.request([ROOM_REQUEST, body], timeout + _REPLY_MARGIN)
        error = reply_error(value, f"request {event_id} in room {self.name!r}")
        if isinstance(error, ReplyClosed):
            error = ReplyClosed(
                f"request {event_id} in room {self.name!r}: no member handles it (or it left)"
            )
        if error is not None:
            raise error
        return to_plain(value)

    def leave(self) -> None:
        """Leave the room (its handlers stop; ``jupyter_sente.room(name)`` joins again)."""
        self._peer.leave(self)

    def _check_joined(self) -> None:
        if not self.joined:
            raise UsageError(f"not in room {self.name!r}: call jupyter_sente.room({self.name!r})")

    # -- what the peer feeds in (on the handler thread) ---------------------------------------

    def _set_state(self, state: Mapping[Any, Any], *, pushed: bool) -> None:
        if not pushed and self._state_pushed:
            return  # a full state came by push already; it may be newer than the join reply
        self._state_pushed = self._state_pushed or pushed
        self._state = dict(state)
        self._publish_members()

    def _apply_diff(self, diff: Mapping[Any, Any]) -> None:
        self._state = apply_presence_diff(self._state, diff)
        self._publish_members()

    def _publish_members(self) -> None:
        self.members = [to_plain(e) for e in presence_members(self._state)]

    def _dispatch(self, msg: Message) -> None:
        with self._peer.lock:
            handlers = list(self._handlers.get(msg.event, ()))
        if not handlers:
            if msg.wants_reply:  # the handler went away while the request travelled
                self._peer.send_reply(msg.request_id or "", CHSK_CLOSED)
            return
        replied = False
        for h in handlers:
            try:
                result = h.fn(msg)
            except Exception:
                # stderr: the notebook shows it (logging in a kernel goes nowhere visible)
                print(
                    f"jupyter_sente: handler {h.key[1]} for {msg.event} in room "
                    f"{self.name!r} failed:\n{traceback.format_exc()}",
                    file=sys.stderr,
                )
                if msg.wants_reply and not replied:
                    self._peer.send_reply(msg.request_id or "", CHSK_ERROR)
                    replied = True
                continue
            if msg.wants_reply and not replied and result is not None:
                msg.reply(result)
                replied = True


def _event_id(event_id: Any) -> str:
    if isinstance(event_id, Keyword):
        event_id = event_id.name
    if not isinstance(event_id, str) or "/" not in event_id:
        raise UsageError(f"an event id is a str like 'chat/post', got {event_id!r}")
    return event_id


class KernelPeer:
    """This kernel's connection: one client, its rooms, and the thread that runs handlers."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        client_id: str,
        notebook: str | None = None,
        open_timeout: float = OPEN_TIMEOUT,
        **client_options: Any,
    ) -> None:
        self.lock = threading.RLock()
        self.rooms: dict[str, Room] = {}
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker = threading.Thread(
            target=self._run, name="jupyter-sente-handlers", daemon=True
        )
        self._worker.start()
        params = {"notebook": notebook} if notebook else None
        self.client = ThreadedClient(
            url,
            client_id=client_id,
            headers={"Authorization": f"{AUTH_SCHEME} {secret}"},
            params=params,
            open_timeout=None,
            **client_options,
        )
        self.client.on(ROOM_EVENT, self._on_event)
        self.client.on(ROOM_PRESENCE, self._on_presence)
        self.client.on(ROOM_PRESENCE_DIFF, self._on_presence_diff)
        self.client.on("chsk/handshake", self._on_handshake)
        try:
            self.client.wait_open(open_timeout)
        except TimeoutError:
            state = self.client.state
            self.client.close()
            raise UsageError(
                f"jupyter_sente: could not connect to the Jupyter server at {url} within "
                f"{open_timeout} s (last close: {state.get('last-close') or state.get('last_close')}). "
                "Was the server restarted since this kernel started? Restart the kernel."
            ) from None

    @property
    def client_id(self) -> str:
        """The kernel's client-id."""
        return self.client.client_id

    @property
    def uid(self) -> Any:
        """The uid the server gave this kernel (the server owner's)."""
        return to_plain(self.client.uid)

    # -- rooms -------------------------------------------------------------------------------

    def room(self, name: str, *, timeout: float = OPEN_TIMEOUT) -> Room:
        """Join ``name`` (once; later calls return the same :class:`Room`)."""
        check_room_name(name)
        with self.lock:
            r = self.rooms.get(name)
            if r is None:
                r = self.rooms[name] = Room(self, name)
        if r.joined:
            return r
        r._state_pushed = False
        data = join_data(name, handles=[kw(i) for i in r.handled_ids()])
        reply = self.request([ROOM_JOIN, data], timeout)
        if is_reply_error(reply) or not isinstance(reply, MAP_TYPES) or reply.get(K_OK) is not True:
            why = reply.get(K_ERROR) if isinstance(reply, MAP_TYPES) else reply
            raise UsageError(f"could not join room {name!r}: {why}")
        r.joined = True
        state = reply.get(K_STATE) or {}
        self._on_worker(lambda: r._set_state(state, pushed=False), wait=True)
        return r

    def leave(self, r: Room) -> None:
        """Leave room ``r``."""
        if not r.joined:
            return
        r.joined = False
        self.send([ROOM_LEAVE, {K_ROOM: r.name}])
        self._on_worker(lambda: r._set_state({}, pushed=True))

    def announce_handlers(self, r: Room) -> None:
        """Tell the server which event ids this kernel handles in ``r``."""
        ids = [kw(i) for i in r.handled_ids()]
        self.send([ROOM_HANDLERS, {K_ROOM: r.name, kw("ids"): ids}])

    # -- the wire ----------------------------------------------------------------------------

    def send(self, event: list[Any]) -> bool:
        """Send an event (no reply); False if not connected."""
        return bool(self.client.send(event))

    def request(self, event: list[Any], timeout: float) -> Any:
        """Send an event and wait for the raw reply (Sente's keywords included)."""
        return self.client.request(event, timeout, raw=True)

    def send_reply(self, request_id: str, value: Any) -> None:
        """Answer a routed request."""
        self.send([ROOM_REPLY, {K_REQUEST_ID: request_id, K_VALUE: value}])

    def close(self) -> None:
        """Disconnect and stop the handler thread."""
        self.client.close()
        self._work.put(None)

    # -- incoming (client thread) -> handler thread -------------------------------------------

    def _room_of(self, data: Any) -> Room | None:
        if not isinstance(data, MAP_TYPES):
            return None
        with self.lock:
            name = data.get(K_ROOM)
            r = self.rooms.get(name) if isinstance(name, str) else None
        return r if r is not None and r.joined else None

    def _on_event(self, em: EventMsg) -> None:
        r = self._room_of(em.data)
        if r is None:
            return
        ev = em.data.get(K_EVENT)
        if not is_event(ev):
            return
        request_id = em.data.get(K_REQUEST_ID)
        msg = Message(
            room=r.name,
            event=ev[0].name,
            data=to_plain(ev[1]) if len(ev) > 1 else None,
            sender=Sender.of(em.data.get(K_FROM)),
            request_id=request_id if isinstance(request_id, str) else None,
            _peer=self,
        )
        self._on_worker(lambda: r._dispatch(msg))

    def _on_presence(self, em: EventMsg) -> None:
        r = self._room_of(em.data)
        if r is not None:
            state = em.data.get(K_STATE) or {}
            self._on_worker(lambda: r._set_state(state, pushed=True))

    def _on_presence_diff(self, em: EventMsg) -> None:
        r = self._room_of(em.data)
        if r is not None:
            diff = em.data
            self._on_worker(lambda: r._apply_diff(diff))

    def _on_handshake(self, em: EventMsg) -> None:
        # Every handshake after the first join is a reconnect: join every room again (the
        # server may have dropped them after its grace period; joining again is harmless).
        # Each join brings a full presence state.
        with self.lock:
            joined = [r for r in self.rooms.values() if r.joined]
        for r in joined:
            handles = [kw(i) for i in r.handled_ids()]
            self.client.send([ROOM_JOIN, join_data(r.name, handles=handles)])

    # -- the handler thread ------------------------------------------------------------------

    def _on_worker(self, fn: Callable[[], None], *, wait: bool = False) -> None:
        if threading.current_thread() is self._worker:
            fn()
            return
        if not wait:
            self._work.put(fn)
            return
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        self._work.put(run)
        done.wait()

    def _run(self) -> None:
        while True:
            fn = self._work.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:
                log.exception("jupyter_sente: a room callback failed")


_lock = threading.Lock()
_peer: KernelPeer | None = None


def _kernel_id() -> str:
    """This kernel's id (from its connection file), else its process id."""
    try:
        from ipykernel.kernelapp import IPKernelApp  # noqa: PLC0415 (only inside a kernel)

        if IPKernelApp.initialized():
            name = os.path.basename(IPKernelApp.instance().connection_file)
            if name.startswith("kernel-") and name.endswith(".json"):
                return name[len("kernel-") : -len(".json")]
    except ImportError:
        pass
    return f"pid{os.getpid()}"


def connection(environ: Mapping[str, str] | None = None) -> KernelPeer:
    """This kernel's connection to its Jupyter server (made on first use)."""
    global _peer
    with _lock:
        if _peer is not None and not _peer.client.closed:
            return _peer
        env = os.environ if environ is None else environ
        url, secret = env.get(ENV_URL), env.get(ENV_SECRET)
        if not url or not secret:
            missing = " and ".join(v for v, x in ((ENV_URL, url), (ENV_SECRET, secret)) if not x)
            raise UsageError(
                f"jupyter_sente.room() needs {missing}, which a Jupyter server with the "
                "jupyter_sente extension exports to the kernels it starts. This kernel was not "
                "started by such a server (a remote/gateway kernel, VS Code, or a kernel older "
                "than the server): start the notebook from JupyterLab, Notebook 7 or "
                "`jupyter server` with jupyter-sente installed, then restart the kernel."
            )
        _peer = KernelPeer(
            url,
            secret,
            client_id=f"{KERNEL_CLIENT_PREFIX}{_kernel_id()}",
            notebook=env.get("JPY_SESSION_NAME") or None,
            # the server's packer (SenteApp.packer); servers before it spoke EDN only
            packer=env.get(ENV_PACKER) or "edn",
        )
        return _peer


def room(name: str, *, timeout: float = OPEN_TIMEOUT) -> Room:
    """Join room ``name`` from this kernel (connecting first if needed); returns the :class:`Room`."""
    try:
        return connection().room(name, timeout=timeout)
    except ReplyError as e:
        raise UsageError(f"could not join room {name!r}: {e}") from e


def rooms() -> dict[str, Room]:
    """The rooms this kernel joined (empty before the first :func:`room`)."""
    peer = _peer
    if peer is None:
        return {}
    with peer.lock:
        return {n: r for n, r in peer.rooms.items() if r.joined}
