"""Sente's example project, standalone: a page, a login, and a channel socket with three events.

``python -m jupyter_sente.demo`` serves it; :func:`make_app` builds it for tests. Sessions live
in memory behind a signed cookie; each session has its CSRF token (in the page) and, after
``POST /login``, a uid. Events:

* ``[:example/echo data]`` replies with ``data``;
* ``[:example/broadcast data]`` pushes ``[:example/broadcast {:from uid :data data}]`` to everyone;
* ``[:example/toggle-broadcast-loop]`` starts or stops pushing ``[:example/tick {:i n}]`` to
  everyone every second, and replies ``{:running? bool}``.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import importlib.resources
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tornado.web

from jupyter_sente.server import ChannelSocketServer, EventMsg, RequestInfo
from jupyter_sente.tornado import channel_socket_routes
from jupyter_sente.values import kw

__all__ = ["SESSION_COOKIE", "Demo", "Session", "make_app"]

log = logging.getLogger("jupyter_sente.demo")

#: The signed cookie holding the session id.
SESSION_COOKIE = "sente-demo-session"
#: Where the page's script looks for the JS client bundle (``jupyter_sente/static``).
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

K_FROM, K_DATA, K_I, K_RUNNING = kw("from"), kw("data"), kw("i"), kw("running?")
EV_BROADCAST, EV_TICK = kw("example/broadcast"), kw("example/tick")


@dataclass
class Session:
    """One browser session: its CSRF token and, once logged in, its uid."""

    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    uid: str | None = None


class Demo:
    """The demo's state: sessions, the channel-socket server, the broadcast loop."""

    def __init__(
        self,
        *,
        cookie_secret: str,
        tick_ms: int = 1_000,
        **server_options: Any,
    ) -> None:
        self.cookie_secret = cookie_secret
        self.tick_ms = tick_ms
        self.sessions: dict[str, Session] = {}
        self.server = ChannelSocketServer(
            user_id_fn=self.user_id,
            csrf_token_fn=self.csrf_token,
            **server_options,
        )
        self.server.on("example/echo")(self.on_echo)
        self.server.on("example/broadcast")(self.on_broadcast)
        self.server.on("example/toggle-broadcast-loop")(self.on_toggle_loop)
        self.server.on_default(self.on_other)
        self._loop_task: asyncio.Task[None] | None = None

    # -- sessions --------------------------------------------------------------------------

    def session_of(self, request: RequestInfo) -> Session | None:
        """The session named by the request's signed cookie, if it is one of ours."""
        raw = request.cookies.get(SESSION_COOKIE)
        if raw is None:
            return None
        sid = tornado.web.decode_signed_value(self.cookie_secret, SESSION_COOKIE, raw)
        return None if sid is None else self.sessions.get(sid.decode())

    def user_id(self, request: RequestInfo) -> str | None:
        """The session's uid (``None``, i.e. ``:sente/nil-uid``, before login)."""
        session = self.session_of(request)
        return None if session is None else session.uid

    def csrf_token(self, request: RequestInfo) -> str | None:
        """The session's CSRF token: the page shows it, the client sends it back."""
        session = self.session_of(request)
        return None if session is None else session.csrf_token

    # -- events ----------------------------------------------------------------------------

    def on_echo(self, msg: EventMsg) -> None:
        if msg.reply is not None:
            msg.reply(msg.data)

    def on_broadcast(self, msg: EventMsg) -> None:
        self.server.broadcast([EV_BROADCAST, {K_FROM: msg.uid, K_DATA: msg.data}])

    def on_toggle_loop(self, msg: EventMsg) -> None:
        running = self.toggle_loop()
        if msg.reply is not None:
            msg.reply({K_RUNNING: running})

    def on_other(self, msg: EventMsg) -> None:
        log.debug("event %s from uid %r", msg.id, msg.uid)

    @property
    def loop_running(self) -> bool:
        """True while the broadcast loop runs."""
        return self._loop_task is not None and not self._loop_task.done()

    def toggle_loop(self) -> bool:
        """Start or stop the broadcast loop; returns whether it now runs."""
        if self.loop_running:
            assert self._loop_task is not None
            self._loop_task.cancel()
            self._loop_task = None
            return False
        self._loop_task = asyncio.ensure_future(self._broadcast_loop())
        return True

    async def _broadcast_loop(self) -> None:
        i = 0
        while True:
            self.server.broadcast([EV_TICK, {K_I: i}])
            i += 1
            await asyncio.sleep(self.tick_ms / 1000)

    def close(self) -> None:
        """Stop the loop and close every channel."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None
        self.server.close()


class _DemoHandler(tornado.web.RequestHandler):
    def initialize(self, demo: Demo) -> None:
        self.demo = demo

    def session(self) -> tuple[str, Session] | None:
        sid = self.get_signed_cookie(SESSION_COOKIE)
        if sid is None or sid.decode() not in self.demo.sessions:
            return None
        return sid.decode(), self.demo.sessions[sid.decode()]


class IndexHandler(_DemoHandler):
    """``GET /``: the page, with this session's CSRF token (a new session if needed)."""

    def get(self) -> None:
        found = self.session()
        if found is None:
            sid = secrets.token_urlsafe(18)
            session = self.demo.sessions[sid] = Session()
            self.set_signed_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Lax")
        else:
            session = found[1]
        page = _page().replace("{{csrf_token}}", html.escape(session.csrf_token, quote=True))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(page)


class LoginHandler(_DemoHandler):
    """``POST /login`` (form ``user-id``, header ``X-CSRF-Token``): the session's uid."""

    def check_xsrf_cookie(self) -> None:
        return None  # checked below against the session's token, as the channel socket does

    def post(self) -> None:
        found = self.session()
        given = self.request.headers.get("X-CSRF-Token", "")
        if found is None or not hmac.compare_digest(given.encode(), found[1].csrf_token.encode()):
            self.set_status(403)
            self.finish("Bad CSRF token")
            return
        uid = self.get_body_argument("user-id", "").strip()
        if not uid:
            self.set_status(400)
            self.finish("user-id is required")
            return
        found[1].uid = uid
        log.info("session logged in as %r", uid)
        self.finish("ok")


def _page() -> str:
    return importlib.resources.files(__package__).joinpath("index.html").read_text("utf-8")


def make_app(
    *,
    packer: Literal["edn", "json"] | str = "edn",
    lp_timeout_ms: int = 20_000,
    ws_kalive_ms: int | None = 25_000,
    allowed_origins: Literal["all"] | Iterable[str] = "all",
    tick_ms: int = 1_000,
    cookie_secret: str | None = None,
    **server_options: Any,
) -> tornado.web.Application:
    """The demo application; ``app.settings["demo"]`` is its :class:`Demo` (server, sessions)."""
    secret = cookie_secret or secrets.token_urlsafe(32)
    demo = Demo(
        cookie_secret=secret,
        tick_ms=tick_ms,
        packer=packer,
        lp_timeout_ms=lp_timeout_ms,
        ws_kalive_ms=ws_kalive_ms,
        allowed_origins=allowed_origins if allowed_origins == "all" else frozenset(allowed_origins),
        **server_options,
    )
    routes: list[Any] = [
        (r"/", IndexHandler, {"demo": demo}),
        (r"/login", LoginHandler, {"demo": demo}),
        *channel_socket_routes(demo.server, "/chsk"),
        (r"/static/(.*)", tornado.web.StaticFileHandler, {"path": str(STATIC_DIR)}),
    ]
    return tornado.web.Application(routes, cookie_secret=secret, demo=demo)
