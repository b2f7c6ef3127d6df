"""Sente's rejection pipeline (§6): reject_fn, CSRF token, origin, authorization, in that order."""

from __future__ import annotations

import hmac
import logging
from typing import Literal

from jupyter_sente.core.events import SKIP_CSRF_CHECK
from jupyter_sente.server.options import CsrfTokenFn, ServerOptions
from jupyter_sente.server.request import HttpResponse, RequestInfo

__all__ = [
    "BAD_CSRF",
    "BAD_ORIGIN",
    "UNAUTHORIZED",
    "allow_origin",
    "reject_request",
    "valid_csrf_token",
]

log = logging.getLogger("jupyter_sente.server")

BAD_CSRF = HttpResponse(403, "Bad CSRF token")
BAD_ORIGIN = HttpResponse(403, "Unauthorized origin")
UNAUTHORIZED = HttpResponse(401, "Unauthorized request")


def valid_csrf_token(request: RequestInfo, csrf_token_fn: CsrfTokenFn | None) -> bool:
    """Sente's ``valid-csrf-token?``: the client's token equals the reference one (constant time).

    The client's token is the first of param ``csrf-token``, header ``x-csrf-token``, header
    ``x-xsrf-token`` (Sente's three), then Jupyter's and Tornado's header ``x-xsrftoken``. No
    function or a ``None`` reference fails; ``SKIP_CSRF_CHECK`` passes.
    """
    if csrf_token_fn is None:
        return False
    reference = csrf_token_fn(request)
    if reference == SKIP_CSRF_CHECK:
        return True
    if not isinstance(reference, str) or not reference:
        return False
    given = (
        request.param("csrf-token")
        or request.header("x-csrf-token")
        or request.header("x-xsrf-token")
        or request.header("x-xsrftoken")
    )
    if not given:
        return False
    return hmac.compare_digest(given.encode(), reference.encode())


def allow_origin(allowed: Literal["all"] | frozenset[str], request: RequestInfo) -> bool:
    """Sente's ``allow-origin?``: exact ``Origin`` match, else a ``Referer`` under ``origin/``."""
    if allowed == "all":
        return True
    origin = request.header("origin")
    if origin is not None:
        return origin in allowed
    referer = request.header("referer")
    if referer is None:
        return False
    return any(referer.startswith(o + "/") for o in allowed)


def reject_request(options: ServerOptions, request: RequestInfo) -> HttpResponse | None:
    """The response that rejects ``request``, or ``None`` to let it through (runs on every request)."""
    if options.reject_fn is not None:
        custom = options.reject_fn(request)
        if custom is not None:
            return custom
    if options.csrf_token_fn is not None and not valid_csrf_token(request, options.csrf_token_fn):
        log.debug("rejected %s %s: bad CSRF token", request.method, request.path)
        return BAD_CSRF
    if not allow_origin(options.allowed_origins, request):
        log.debug("rejected %s %s: origin not allowed", request.method, request.path)
        return BAD_ORIGIN
    if options.authorized_fn is not None and not options.authorized_fn(request):
        return UNAUTHORIZED
    return None
