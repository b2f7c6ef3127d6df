"""Sente's rejection pipeline: reject_fn, CSRF token, origin, authorization, on every request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_sente.server import (
    SKIP_CSRF_CHECK,
    HttpResponse,
    RequestInfo,
    ServerOptions,
    allow_origin,
    cookie_csrf_token_fn,
    reject_request,
    valid_csrf_token,
)
from tests.server.helpers import Live, body

Start = Callable[..., Live]


def req(
    *, headers: dict[str, str] | None = None, query: dict[str, str] | None = None
) -> RequestInfo:
    return RequestInfo(
        "GET",
        "/chsk",
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query={k: [v] for k, v in (query or {}).items()},
    )


def token(value: Any) -> Callable[[RequestInfo], Any]:
    return lambda request: value


# -- the checks on their own ------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        req(query={"csrf-token": "s3cret"}),
        req(headers={"X-CSRF-Token": "s3cret"}),
        req(headers={"X-XSRF-Token": "s3cret"}),
        req(headers={"X-XSRFToken": "s3cret"}),  # Jupyter's and Tornado's header
    ],
)
def test_csrf_token_is_read_from_param_then_headers(request_: RequestInfo) -> None:
    assert valid_csrf_token(request_, token("s3cret"))


def test_csrf_param_comes_before_the_headers() -> None:
    both = req(query={"csrf-token": "wrong"}, headers={"X-CSRF-Token": "s3cret"})
    assert not valid_csrf_token(both, token("s3cret"))


@pytest.mark.parametrize("sente_header", ["X-CSRF-Token", "X-XSRF-Token"])
def test_sentes_headers_come_before_jupyters(sente_header: str) -> None:
    both = req(headers={sente_header: "wrong", "X-XSRFToken": "s3cret"})
    assert not valid_csrf_token(both, token("s3cret"))


@pytest.mark.parametrize(
    ("request_", "reference"),
    [
        (req(headers={"X-CSRF-Token": "nope"}), token("s3cret")),  # mismatch
        (req(), token("s3cret")),  # no client token
        (req(headers={"X-CSRF-Token": "s3cret"}), token(None)),  # no reference token
        (req(headers={"X-CSRF-Token": "s3cret"}), None),  # no function
    ],
)
def test_csrf_check_fails_closed(request_: RequestInfo, reference: Any) -> None:
    assert not valid_csrf_token(request_, reference)


def test_csrf_skip_sentinel_passes_without_a_token() -> None:
    assert valid_csrf_token(req(), token(SKIP_CSRF_CHECK))


def test_default_csrf_reference_is_the_xsrf_cookie() -> None:
    fn = cookie_csrf_token_fn()
    with_cookie = req(
        headers={"Cookie": "a=1; _xsrf=2|abc|def|123", "X-CSRF-Token": "2|abc|def|123"}
    )
    assert fn(with_cookie) == "2|abc|def|123"
    assert valid_csrf_token(with_cookie, fn)
    assert fn(req(headers={"X-CSRF-Token": "x"})) is None
    assert ServerOptions().csrf_token_fn is not None
    assert ServerOptions().csrf_token_fn(with_cookie) == "2|abc|def|123"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Origin": "https://site.com"}, True),
        ({"Origin": "https://evil.com"}, False),
        ({"Origin": "https://evil.com", "Referer": "https://site.com/page"}, False),
        ({"Referer": "https://site.com/page"}, True),
        ({"Referer": "https://site.com.evil.com/"}, False),
        ({"Referer": "https://site.com"}, False),
        ({}, False),
    ],
)
def test_origin_check(headers: dict[str, str], allowed: bool) -> None:
    assert allow_origin(frozenset({"https://site.com"}), req(headers=headers)) is allowed
    assert allow_origin("all", req(headers=headers))


def test_pipeline_order_reject_fn_first_then_csrf_origin_authorization() -> None:
    calls: list[str] = []

    def authorized(request: RequestInfo) -> bool:
        calls.append("authorized")
        return False

    options = ServerOptions(
        reject_fn=lambda request: HttpResponse(429, "slow down"),
        csrf_token_fn=token("s3cret"),
        allowed_origins={"https://site.com"},
        authorized_fn=authorized,
    )
    bad = req()
    assert reject_request(options, bad) == HttpResponse(429, "slow down")
    options = ServerOptions.build(options, reject_fn=lambda request: None)
    assert reject_request(options, bad) == HttpResponse(403, "Bad CSRF token")
    with_token = req(headers={"X-CSRF-Token": "s3cret"})
    assert reject_request(options, with_token) == HttpResponse(403, "Unauthorized origin")
    good_origin = req(headers={"X-CSRF-Token": "s3cret", "Origin": "https://site.com"})
    assert calls == []
    assert reject_request(options, good_origin) == HttpResponse(401, "Unauthorized request")
    assert calls == ["authorized"]
    assert reject_request(ServerOptions.build(options, authorized_fn=None), good_origin) is None


# -- over the wire, on every kind of request --------------------------------------------------


async def each_request(live: Live, **kw: Any) -> list[tuple[int, str]]:
    """(status, body) of an Ajax GET, a POST and a WebSocket upgrade with the same credentials."""
    headers = kw.pop("headers", None)
    results = []
    get = await live.get("c1", headers=headers, **kw)
    results.append((get.code, body(get)))
    post = await live.post("[[:my-app/x] nil]", "c1", headers=headers, **kw)
    results.append((post.code, body(post)))
    try:
        ws = await live.ws("c1", headers=headers, **kw)
    except HTTPClientError as e:
        assert e.response is not None
        results.append((e.code, body(e.response)))
    else:
        results.append((101, await _first(ws)))
    return results


async def _first(ws: Any) -> str:
    msg = await ws.read_message()
    return str(msg)


@pytest.mark.asyncio
async def test_reject_fn_answers_every_request_with_its_response(start: Start) -> None:
    live = start(reject_fn=lambda request: HttpResponse(429, "slow down"), csrf_token_fn=token("t"))
    assert await each_request(live) == [(429, "slow down")] * 3


@pytest.mark.asyncio
async def test_bad_csrf_token_is_a_403_on_every_request(start: Start) -> None:
    live = start(csrf_token_fn=token("s3cret"))
    assert await each_request(live) == [(403, "Bad CSRF token")] * 3
    assert (
        await each_request(live, headers={"X-CSRF-Token": "wrong"}) == [(403, "Bad CSRF token")] * 3
    )
    passed = await each_request(live, csrf_token="s3cret")
    assert [code for code, _ in passed] == [200, 200, 101]


@pytest.mark.asyncio
async def test_default_csrf_check_uses_the_xsrf_cookie(start: Start) -> None:
    live = start(csrf_token_fn=cookie_csrf_token_fn())
    assert await each_request(live) == [(403, "Bad CSRF token")] * 3
    cookie = {"Cookie": "_xsrf=2|aa|bb|1"}
    assert [c for c, _ in await each_request(live, headers=cookie)] == [403] * 3
    passed = await each_request(live, headers={**cookie, "X-CSRF-Token": "2|aa|bb|1"})
    assert [code for code, _ in passed] == [200, 200, 101]
    # what a Jupyter page sends with its fetches
    jupyter = await each_request(live, headers={**cookie, "X-XSRFToken": "2|aa|bb|1"})
    assert [code for code, _ in jupyter] == [200, 200, 101]


@pytest.mark.asyncio
async def test_unlisted_origin_is_a_403_on_every_request(start: Start) -> None:
    live = start(allowed_origins={"https://site.com"})
    evil = {"Origin": "https://evil.com"}
    assert await each_request(live, headers=evil) == [(403, "Unauthorized origin")] * 3
    good = {"Origin": "https://site.com"}
    assert [code for code, _ in await each_request(live, headers=good)] == [200, 200, 101]


@pytest.mark.asyncio
async def test_unauthorized_is_a_401_on_every_request(start: Start) -> None:
    live = start(authorized_fn=lambda request: request.param("uid") == "alice")
    assert await each_request(live, uid="mallory") == [(401, "Unauthorized request")] * 3
    assert [code for code, _ in await each_request(live, uid="alice")] == [200, 200, 101]
