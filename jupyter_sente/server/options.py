"""The server's options: Sente's names (snake_case) and defaults, validated once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeAlias

from jupyter_sente.core.timing import ServerTiming
from jupyter_sente.exceptions import UsageError
from jupyter_sente.packers import PACKER_NAMES, Packer
from jupyter_sente.server.request import HttpResponse, RequestInfo
from jupyter_sente.values import Keyword

__all__ = [
    "DEFAULT_CSRF_COOKIE",
    "AuthorizedFn",
    "CsrfTokenFn",
    "HandshakeDataFn",
    "RejectFn",
    "ServerOptions",
    "UserIdFn",
    "cookie_csrf_token_fn",
    "no_user_id",
]

UserIdFn: TypeAlias = Callable[[RequestInfo], Any]
CsrfTokenFn: TypeAlias = Callable[[RequestInfo], "str | Keyword | None"]
HandshakeDataFn: TypeAlias = Callable[[RequestInfo], Any]
AuthorizedFn: TypeAlias = Callable[[RequestInfo], Any]
RejectFn: TypeAlias = Callable[[RequestInfo], "HttpResponse | None"]

#: Tornado's (and Jupyter's) XSRF cookie: the default reference CSRF token.
DEFAULT_CSRF_COOKIE = "_xsrf"


def no_user_id(request: RequestInfo) -> None:
    """The default ``user_id_fn``: every client is anonymous (``:sente/nil-uid``)."""
    return None


def cookie_csrf_token_fn(cookie: str = DEFAULT_CSRF_COOKIE) -> CsrfTokenFn:
    """A ``csrf_token_fn`` whose reference token is the value of ``cookie`` (double-submit).

    The page's script reads the cookie and sends its value as ``X-CSRF-Token`` (Ajax) and the
    ``csrf-token`` query parameter (WebSocket); another site can send the cookie but cannot
    read it. No cookie means no reference token, which fails the check (Sente fails closed).
    """

    def csrf_token_from_cookie(request: RequestInfo) -> str | None:
        return request.cookies.get(cookie) or None

    csrf_token_from_cookie.__qualname__ = f"cookie_csrf_token_fn({cookie!r})"
    return csrf_token_from_cookie


_default_csrf_token_fn = cookie_csrf_token_fn()


@dataclass(frozen=True)
class ServerOptions:
    """Options of :class:`~jupyter_sente.server.ChannelSocketServer` (Sente §4.1).

    ``csrf_token_fn=None`` skips the CSRF check, as Sente's explicit nil does; a function that
    returns ``SKIP_CSRF_CHECK`` skips it per request; one that returns ``None`` fails it.
    """

    user_id_fn: UserIdFn = no_user_id
    csrf_token_fn: CsrfTokenFn | None = _default_csrf_token_fn
    handshake_data_fn: HandshakeDataFn | None = None
    allowed_origins: Literal["all"] | frozenset[str] = "all"
    authorized_fn: AuthorizedFn | None = None
    reject_fn: RejectFn | None = None
    packer: str | Packer = "edn"
    # the timing options and their defaults are ServerTiming's (checked there)
    ws_kalive_ms: int | None = ServerTiming.ws_kalive_ms
    ws_ping_timeout_ms: int | None = ServerTiming.ws_ping_timeout_ms
    lp_timeout_ms: int = ServerTiming.lp_timeout_ms
    send_buf_ms_ws: int = ServerTiming.send_buf_ms_ws
    send_buf_ms_ajax: int = ServerTiming.send_buf_ms_ajax
    ms_allow_reconnect_before_close_ws: int = ServerTiming.ms_allow_reconnect_before_close_ws
    ms_allow_reconnect_before_close_ajax: int = ServerTiming.ms_allow_reconnect_before_close_ajax
    max_message_bytes: int = 1 << 20
    max_send_queue_bytes: int = 4 << 20
    timing: ServerTiming = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        origins = self.allowed_origins
        if origins != "all":
            if isinstance(origins, str) or not isinstance(origins, Iterable):
                raise UsageError(
                    f'allowed_origins must be "all" or a set of origins, got {origins!r}'
                )
            object.__setattr__(self, "allowed_origins", frozenset(origins))
        if isinstance(self.packer, str) and self.packer not in PACKER_NAMES:
            raise UsageError(
                f"unknown packer {self.packer!r}; choose one of {', '.join(PACKER_NAMES)}"
            )
        for name in ("max_message_bytes", "max_send_queue_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise UsageError(f"{name} must be a positive number of bytes, got {value!r}")
        if not callable(self.user_id_fn):
            raise UsageError(f"user_id_fn must be callable, got {self.user_id_fn!r}")
        for name in ("csrf_token_fn", "handshake_data_fn", "authorized_fn", "reject_fn"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise UsageError(f"{name} must be callable or None, got {value!r}")
        timing = ServerTiming(**{f.name: getattr(self, f.name) for f in fields(ServerTiming)})
        object.__setattr__(self, "timing", timing)

    @classmethod
    def build(cls, options: ServerOptions | None = None, **overrides: Any) -> ServerOptions:
        """``options`` (or the defaults) with ``overrides``; an unknown name is a ``UsageError``."""
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise UsageError(f"unknown server option(s): {', '.join(unknown)}")
        base = {name: getattr(options, name) for name in known} if options else {}
        return cls(**{**base, **overrides})
