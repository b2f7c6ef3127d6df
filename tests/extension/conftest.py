"""A real Jupyter server (pytest-jupyter) with the extension, test users, and Sente clients.

Tests here are ``async def`` WITHOUT ``@pytest.mark.asyncio``: pytest-jupyter runs them on
the server's loop (pytest-asyncio would run them on another loop and every request would hang).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jupyter_server.auth import Authorizer, IdentityProvider, User
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from jupyter_sente.client import Client, ClientTiming, EventMsg
from jupyter_sente.packers import get_packer
from tests.waits import MS, SCALE, S  # noqa: F401  (MS: tests take it from here)
from tests.waits import Recorder as _Recorder

#: Token -> identity: each test user authenticates with its own token.
USERS = {
    "alice-token": User("alice", name="Alice Liddell", display_name="Alice", initials="AL"),
    "bob-token": User("bob", name="Bob", color="#123456"),
    "owner-token": User("owner", name="Owner"),
    "mallory-token": User("mallory"),
}
OWNER = "owner"
#: Grace periods short enough to watch a client go.
GRACE_MS = 300


class UsersByToken(IdentityProvider):  # type: ignore[misc]
    """Jupyter's identity provider, plus one token per test user (``Authorization: token ...``)."""

    async def get_user_token(self, handler: Any) -> User | None:
        user = USERS.get(self.get_token(handler) or "")
        if user is not None:
            return user
        return await super().get_user_token(handler)  # type: ignore[no-any-return]


class NoSenteForMallory(Authorizer):  # type: ignore[misc]
    """Everyone may do everything, except mallory on the channel socket (resource ``sente``)."""

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        return not (resource == "sente" and user.username == "mallory")


@pytest.fixture
def sente_config() -> dict[str, Any]:
    """``SenteApp`` options for the test (override the fixture to change them)."""
    return {
        "kernel_username": OWNER,
        "ms_allow_reconnect_before_close_ws": int(GRACE_MS * SCALE),
        "ms_allow_reconnect_before_close_ajax": int(GRACE_MS * SCALE),
        "lp_timeout_ms": int(2_000 * SCALE),
    }


@pytest.fixture
def server_config() -> dict[str, Any]:
    """Extra ``ServerApp`` options for the test (override the fixture to set some)."""
    return {}


@pytest.fixture
def jp_server_config(sente_config: dict[str, Any], server_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_sente": True, "jupyter_server_terminals": False},
            "identity_provider_class": f"{__name__}.UsersByToken",
            "authorizer_class": f"{__name__}.NoSenteForMallory",
            **server_config,
        },
        "SenteApp": sente_config,
    }


def sente_app(serverapp: Any) -> Any:
    """The loaded ``SenteApp`` of a Jupyter server."""
    return serverapp.extension_manager.extension_points["jupyter_sente"].app


@pytest.fixture
def chsk_url(jp_serverapp: Any, http_server: Any, jp_http_port: int, jp_base_url: str) -> str:
    """The served channel socket's URL (under pytest-jupyter's base URL ``/a%40b/``)."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}sente/chsk"


def fast_timing() -> ClientTiming:
    return ClientTiming(
        ws_kalive_ms=int(10_000 * SCALE), ws_ping_timeout_ms=int(5_000 * SCALE), backoff_cap_ms=200
    )


class Recorder(_Recorder[EventMsg]):
    """Every event a client received, awaitable by condition."""

    def of(self, ev_id: str) -> list[EventMsg]:
        return [m for m in self.msgs if m.id == ev_id]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5 * S) -> Any:
        """Wait until ``predicate()`` is truthy; return its value."""
        return await self.until(predicate, timeout)


@pytest.fixture
def clients(
    jp_serverapp: Any, chsk_url: str, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[Callable[..., Any]]:
    """``await clients("alice", client_id=...)``: an open Sente client of a test user + its recorder."""
    made: list[Client] = []

    async def make(
        user: str, *, client_id: str | None = None, type: str = "ws", **options: Any
    ) -> tuple[Client, Recorder]:
        rec = Recorder()
        client = Client(
            chsk_url,
            type=type,  # type: ignore[arg-type]
            headers={"Authorization": f"token {user}-token"},
            client_id=client_id,
            timing=fast_timing(),
            **options,
        )
        client.on_default(rec)
        for ev_id in ("sente.room/event", "sente.room/presence", "sente.room/presence-diff"):
            client.on(ev_id, rec)
        made.append(client)
        await client.start()
        await client.wait_open(5 * S)
        return client, rec

    yield make

    async def close_all() -> None:
        for c in made:
            await c.close()

    jp_asyncio_loop.run_until_complete(close_all())


async def raw_ws(
    chsk_url: str, *, headers: dict[str, str], params: str
) -> WebSocketClientConnection:
    """A plain WebSocket to the channel socket (for tests about the upgrade itself)."""
    url = chsk_url.replace("http://", "ws://", 1) + "?" + params
    return await websocket_connect(HTTPRequest(url, headers=headers, request_timeout=5 * S))


@pytest.fixture
def kernel_secret(jp_serverapp: Any) -> str:
    """The test server's kernel secret."""
    secret = sente_app(jp_serverapp).kernel_secret
    assert isinstance(secret, str) and secret
    return secret


EDN = get_packer("edn")
