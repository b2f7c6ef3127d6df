"""Who may open the channel socket: Jupyter's identity, origin policy, XSRF, authorizer, kernels."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_sente.values import kw
from tests.extension.conftest import EDN, OWNER, raw_ws

NO_TOKEN = {"Authorization": ""}
POST_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def form(client_id: str, event: Any) -> str:
    """An Ajax POST body (Sente's text form) carrying ``event`` without a callback."""
    return urlencode({"udt": "1", "client-id": client_id, "ppstr": EDN.pack([event, None])})


async def cookie_session(jp_fetch: Any, user: str = "alice") -> tuple[str, str]:
    """A browser-like session: the login cookie (from a token login) and the ``_xsrf`` cookie."""
    me = await jp_fetch("api", "me", headers={"Authorization": f"token {user}-token"})
    login = next(
        c.split(";")[0] for c in me.headers.get_list("Set-Cookie") if c.startswith("username-")
    )
    page = await jp_fetch("login", headers=NO_TOKEN)
    xsrf = next(
        c.split(";")[0].split("=", 1)[1]
        for c in page.headers.get_list("Set-Cookie")
        if c.startswith("_xsrf=")
    )
    return f"{login}; _xsrf={xsrf}", xsrf


def origin_of(url: str) -> str:
    """``http://host:port`` of ``url`` (the page origin a browser would send)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def refused(aw: Any) -> HTTPClientError:
    with pytest.raises(HTTPClientError) as e:
        await aw
    return e.value


async def test_requests_without_credentials_are_refused(jp_fetch: Any, chsk_url: str) -> None:
    params = {"client-id": "c1", "handshake?": "1"}
    assert (await refused(jp_fetch("sente", "chsk", params=params, headers=NO_TOKEN))).code == 403
    post = jp_fetch(
        "sente",
        "chsk",
        method="POST",
        body=form("c1", [kw("my-app/x")]),
        headers={**NO_TOKEN, **POST_HEADERS},
    )
    assert (await refused(post)).code == 403
    ws = raw_ws(chsk_url, headers=NO_TOKEN, params="client-id=c1")
    assert (await refused(ws)).code == 403


async def test_a_token_user_connects_without_csrf_token_from_any_origin(chsk_url: str) -> None:
    # Jupyter exempts token-authenticated requests from its XSRF and origin checks
    headers = {"Authorization": "token alice-token", "Origin": "http://elsewhere.example"}
    ws = await raw_ws(chsk_url, headers=headers, params="client-id=c1")
    handshake = EDN.unpack(await ws.read_message())
    assert handshake[0][0] == kw("chsk/handshake") and handshake[0][1][0] == "alice"
    ws.close()


async def test_a_cookie_session_websocket_needs_the_xsrf_cookie_as_csrf_token(
    jp_fetch: Any, chsk_url: str
) -> None:
    cookies, xsrf = await cookie_session(jp_fetch)
    headers = {**NO_TOKEN, "Cookie": cookies}
    for params in ("client-id=c1", "client-id=c1&csrf-token=wrong"):
        ws = raw_ws(chsk_url, headers=headers, params=params)
        assert (await refused(ws)).code == 403
    good = urlencode({"client-id": "c1", "csrf-token": xsrf})
    ws = await raw_ws(chsk_url, headers=headers, params=good)
    handshake = EDN.unpack(await ws.read_message())
    assert handshake[0][1][0] == "alice"
    ws.close()


async def test_a_cookie_session_ajax_post_without_xsrf_is_refused(
    jp_fetch: Any, chsk_url: str
) -> None:
    cookies, xsrf = await cookie_session(jp_fetch)
    body = form("c1", [kw("my-app/x")])
    headers = {**NO_TOKEN, **POST_HEADERS, "Cookie": cookies}
    error = await refused(jp_fetch("sente", "chsk", method="POST", body=body, headers=headers))
    assert error.code == 403
    assert error.response is not None and b"Bad CSRF token" in error.response.body
    ok = await jp_fetch(
        "sente", "chsk", method="POST", body=body, headers={**headers, "X-CSRF-Token": xsrf}
    )
    assert EDN.unpack(ok.body.decode()) == [kw("chsk/dummy-cb-200"), None]


async def test_a_cookie_session_from_a_foreign_origin_is_refused(
    jp_fetch: Any, chsk_url: str
) -> None:
    cookies, xsrf = await cookie_session(jp_fetch)
    params = urlencode({"client-id": "c1", "csrf-token": xsrf})
    evil = {**NO_TOKEN, "Cookie": cookies, "Origin": "http://evil.example"}
    assert (await refused(raw_ws(chsk_url, headers=evil, params=params))).code == 403
    poll = jp_fetch(
        "sente",
        "chsk",
        params={"client-id": "c1", "handshake?": "1"},
        headers={**evil, "X-CSRF-Token": xsrf},
    )
    assert (await refused(poll)).code == 403
    same = {**evil, "Origin": origin_of(chsk_url)}
    ws = await raw_ws(chsk_url, headers=same, params=params)
    assert EDN.unpack(await ws.read_message())[0][1][0] == "alice"
    ws.close()


class TestJupyterOriginPolicy:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return {"allow_origin": "https://trusted.example"}

    async def test_an_origin_allowed_by_jupyter_is_accepted(
        self, jp_fetch: Any, chsk_url: str
    ) -> None:
        cookies, xsrf = await cookie_session(jp_fetch)
        params = urlencode({"client-id": "c1", "csrf-token": xsrf})
        headers = {**NO_TOKEN, "Cookie": cookies, "Origin": "https://trusted.example"}
        ws = await raw_ws(chsk_url, headers=headers, params=params)
        assert EDN.unpack(await ws.read_message())[0][1][0] == "alice"
        ws.close()
        other = {**headers, "Origin": "https://untrusted.example"}
        assert (await refused(raw_ws(chsk_url, headers=other, params=params))).code == 403


async def test_the_authorizer_decides_on_resource_sente(jp_fetch: Any, chsk_url: str) -> None:
    mallory = {"Authorization": "token mallory-token"}
    poll = jp_fetch("sente", "chsk", params={"client-id": "c1", "handshake?": "1"}, headers=mallory)
    assert (await refused(poll)).code == 403
    ws = raw_ws(chsk_url, headers=mallory, params="client-id=c1")
    assert (await refused(ws)).code == 403
    # the same authorizer lets mallory use the rest of Jupyter
    assert (await jp_fetch("api", "me", headers=mallory)).code == 200


async def test_a_kernel_connects_with_the_secret_as_the_owner(
    kernel_secret: str, chsk_url: str
) -> None:
    secret = kernel_secret
    headers = {"Authorization": f"SenteKernel {secret}"}
    ws = await raw_ws(chsk_url, headers=headers, params="client-id=kernel-abc")
    text = await ws.read_message()
    assert isinstance(text, str) and secret not in text
    uid, _, data = EDN.unpack(text)[0][1]
    assert uid == OWNER and data[kw("kind")] == "kernel"
    ws.close()


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({"Authorization": "SenteKernel {secret}"}, "client-id=tab-1"),
        (
            {"Authorization": "SenteKernel {secret}", "Origin": "http://localhost"},
            "client-id=kernel-1",
        ),
        ({"Authorization": "SenteKernel {secret}", "Cookie": "_xsrf=x"}, "client-id=kernel-1"),
        (
            {"Authorization": "SenteKernel {secret}", "X-Forwarded-For": "1.2.3.4"},
            "client-id=kernel-1",
        ),
        ({"Authorization": "token {secret}"}, "client-id=kernel-1"),
        ({"Authorization": "SenteKernel wrong"}, "client-id=kernel-1"),
    ],
)
async def test_the_kernel_secret_is_refused_as_a_browser_connection(
    kernel_secret: str,
    chsk_url: str,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    params: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = kernel_secret
    filled = {k: v.format(secret=secret) for k, v in headers.items()}
    error = await refused(raw_ws(chsk_url, headers=filled, params=params))
    assert error.code == 403
    assert not [r for r in caplog.records if secret in r.getMessage()]


async def test_a_kernel_request_over_ajax_is_accepted_and_needs_no_csrf(
    kernel_secret: str, jp_fetch: Any, chsk_url: str
) -> None:
    secret = kernel_secret
    headers = {"Authorization": f"SenteKernel {secret}"}
    hs = await jp_fetch(
        "sente", "chsk", params={"client-id": "kernel-9", "handshake?": "1"}, headers=headers
    )
    assert EDN.unpack(hs.body.decode())[0][1][0] == OWNER
    sent = await jp_fetch(
        "sente",
        "chsk",
        method="POST",
        body=form("kernel-9", [kw("my-app/x")]),
        headers={**headers, **POST_HEADERS},
    )
    assert EDN.unpack(sent.body.decode()) == [kw("chsk/dummy-cb-200"), None]
