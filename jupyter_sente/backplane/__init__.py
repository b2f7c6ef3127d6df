"""Backplanes carry messages between jupyter-sente servers: memory (default) or Redis pub/sub.

``make_backplane(url)`` picks one from a URL; importing this package never imports redis
(the Redis backend imports it when one is made). See ``docs/backplane.md``.
"""

from __future__ import annotations

from typing import Any

from jupyter_sente.backplane.base import (
    CONTROL_BYE,
    DEFAULT_MAX_MESSAGE_BYTES,
    KINDS,
    Backplane,
    BackplaneHealth,
    BackplaneMessage,
    MessageKind,
    OnMessage,
    new_message_id,
)
from jupyter_sente.backplane.memory import DEFAULT_HUB, MemoryBackplane, MemoryHub
from jupyter_sente.backplane.redis import RedisBackplane, redact_url
from jupyter_sente.exceptions import MessageTooLarge, UsageError

__all__ = [
    "CONTROL_BYE",
    "DEFAULT_HUB",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "KINDS",
    "SCHEMES",
    "Backplane",
    "BackplaneHealth",
    "BackplaneMessage",
    "MemoryBackplane",
    "MemoryHub",
    "MessageKind",
    "MessageTooLarge",
    "OnMessage",
    "RedisBackplane",
    "make_backplane",
    "new_message_id",
]

#: The URL schemes :func:`make_backplane` accepts.
SCHEMES = ("memory", "redis", "rediss")


def make_backplane(url: str | None, *, server_id: str | None = None, **opts: Any) -> Backplane:
    """The backplane for ``url``: ``None`` or ``memory://`` (one process), ``redis://`` or ``rediss://``.

    ``opts`` go to the backend's constructor (``namespace``, ``max_message_bytes``, ...).
    """
    if url is None or url.lower() == "memory://":
        return MemoryBackplane(server_id=server_id, **opts)
    scheme = url.partition("://")[0].lower() if isinstance(url, str) and "://" in url else ""
    if scheme in ("redis", "rediss"):
        return RedisBackplane(url, server_id=server_id, **opts)
    shown = redact_url(url) if isinstance(url, str) else repr(url)
    raise UsageError(
        f"unsupported backplane URL {shown!r}: use memory:// (one process, the default), "
        "redis://host:port/db or rediss://host:port/db"
    )
