"""What the server sees of an HTTP request, and what it answers, independent of the host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

__all__ = ["HttpResponse", "RequestInfo"]


@dataclass(frozen=True)
class RequestInfo:
    """One request (WebSocket upgrade, long-poll, POST) as the host hands it to the server.

    ``headers`` has lower-case names; ``query`` and ``form`` map a name to its values in order;
    ``params`` is Sente's merged view (first value of each, query first, then form).
    ``native`` is the host's own object (the Tornado ``RequestHandler``) for what only the host
    knows: signed cookies, the Jupyter identity.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, list[str]] = field(default_factory=dict)
    form: Mapping[str, list[str]] = field(default_factory=dict)
    remote_ip: str | None = None
    native: Any = field(default=None, repr=False, compare=False)

    def param(self, name: str) -> str | None:
        """The first value of ``name`` in the query string, else in the form body."""
        values = self.query.get(name) or self.form.get(name)
        return values[0] if values else None

    def has_param(self, name: str) -> bool:
        """True when ``name`` is present at all (Sente tests ``handshake?`` this way)."""
        return name in self.query or name in self.form

    @property
    def params(self) -> dict[str, str]:
        """Sente's ``:params``: the first value of every query and form parameter."""
        merged = {k: v[0] for k, v in self.form.items() if v}
        merged.update({k: v[0] for k, v in self.query.items() if v})
        return merged

    @property
    def client_id(self) -> str | None:
        """The ``client-id`` parameter, ``None`` when missing or blank."""
        cid = self.param("client-id")
        return cid if cid and cid.strip() else None

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower())

    @property
    def cookies(self) -> dict[str, str]:
        """Cookie name -> value, parsed from the ``Cookie`` header (an unparsable header gives ``{}``)."""
        raw = self.header("cookie")
        if not raw:
            return {}
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return {}
        return {name: morsel.value for name, morsel in jar.items()}


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP answer: a rejection (Sente's statuses and bodies) or a packed envelope."""

    status: int
    body: str | bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def body_bytes(self) -> bytes:
        """The body as UTF-8 bytes."""
        return self.body.encode() if isinstance(self.body, str) else self.body
