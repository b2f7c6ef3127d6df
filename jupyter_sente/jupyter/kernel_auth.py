"""Kernel credentials: the per-server secret that lets kernels connect as the server's owner.

The extension puts a loopback URL and a fresh secret into the server's environment; kernels
the server starts inherit both and present the secret as ``Authorization: SenteKernel <secret>``.
The server accepts it only from a loopback address, only on a request that does not look like
a browser's or a proxy's (no ``Origin``, ``Cookie``, ``Referer``, ``Sec-Fetch-*`` or forwarding
headers) and only with a ``kernel-`` client-id; it then treats the request as the owner's.

Stdlib only: the kernel side imports the variable names from here without loading a server.
"""

from __future__ import annotations

import enum
import getpass
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "AUTH_SCHEME",
    "ENV_PACKER",
    "ENV_SECRET",
    "ENV_URL",
    "KERNEL_CLIENT_PREFIX",
    "KernelCheck",
    "KernelOutcome",
    "check_kernel_request",
    "is_loopback",
    "kernel_credential",
    "loopback_url",
    "new_secret",
    "owner_username",
]

#: The channel-socket URL (``.../sente/chsk``) on a loopback address, for kernels.
ENV_URL = "JUPYTER_SENTE_URL"
#: The per-server-start secret kernels present.
ENV_SECRET = "JUPYTER_SENTE_KERNEL_SECRET"
#: The server's packer name: a kernel must speak it (``SenteApp.packer``).
ENV_PACKER = "JUPYTER_SENTE_PACKER"
#: ``Authorization: SenteKernel <secret>``; Jupyter's own schemes are ``token`` and ``bearer``.
AUTH_SCHEME = "SenteKernel"
#: Kernel client-ids start with this (``kernel-<kernel id>``).
KERNEL_CLIENT_PREFIX = "kernel-"

# A request carrying any of these came through a browser or a proxy, not straight from a kernel.
_BROWSER_HEADERS = ("origin", "cookie", "referer", "sec-fetch-site", "sec-fetch-mode")
_PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-host", "x-real-ip", "forwarded")


def new_secret() -> str:
    """A fresh secret for one server start."""
    return secrets.token_urlsafe(32)


def owner_username(environ: Mapping[str, str] | None = None) -> str:
    """Who owns this server: ``JUPYTERHUB_USER`` under JupyterHub, else the account running it."""
    env = os.environ if environ is None else environ
    hub_user = env.get("JUPYTERHUB_USER")
    if hub_user:
        return hub_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # a container without a passwd entry for this uid
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "owner"


def is_loopback(remote_ip: str | None) -> bool:
    """True for 127.0.0.0/8, ``::1`` and IPv4-mapped loopback addresses."""
    if not remote_ip:
        return False
    try:
        addr = ipaddress.ip_address(remote_ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def loopback_url(ip: str, port: int, base_url: str, *, tls: bool = False) -> str:
    """The channel-socket URL a kernel on this machine reaches the server by.

    A server on a wildcard or loopback address is reached on 127.0.0.1 (``[::1]`` for IPv6
    loopback); one bound to a single other address is reached there (and then its kernels'
    requests do not come from loopback: see ``docs/extension.md``).
    """
    host = ip.strip("[]")
    if host in ("", "0.0.0.0", "*", "localhost") or host.startswith("127."):
        host = "127.0.0.1"
    elif host in ("::", "::1"):
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    base = base_url if base_url.endswith("/") else base_url + "/"
    if not base.startswith("/"):
        base = "/" + base
    return f"{'https' if tls else 'http'}://{host}:{port}{base}sente/chsk"


def kernel_credential(authorization: str | None) -> str | None:
    """The secret in ``Authorization: SenteKernel <secret>``, else ``None``."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != AUTH_SCHEME.lower():
        return None
    return value.strip() or None


class KernelOutcome(enum.Enum):
    """What a request's kernel credential amounts to."""

    ABSENT = "absent"  # no kernel credential: authenticate the Jupyter way
    ACCEPTED = "accepted"  # a kernel of this server: the owner's identity
    REFUSED = "refused"  # a kernel credential that must not be honoured: 403


@dataclass(frozen=True)
class KernelCheck:
    """The outcome and, when refused, why (never the secret)."""

    outcome: KernelOutcome
    reason: str = ""


def check_kernel_request(
    *,
    secret: str | None,
    headers: Mapping[str, str],
    remote_ip: str | None,
    client_id: str | None,
) -> KernelCheck:
    """Decide on a request's kernel credential; ``headers`` has lower-case names."""
    given = kernel_credential(headers.get("authorization"))
    if given is None:
        return KernelCheck(KernelOutcome.ABSENT)

    def refused(reason: str) -> KernelCheck:
        return KernelCheck(KernelOutcome.REFUSED, reason)

    if not secret:
        return refused("kernel connections are disabled on this server")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return refused(
            "wrong kernel secret (the server restarted since the kernel started? restart the kernel)"
        )
    if not is_loopback(remote_ip):
        return refused("the kernel secret is accepted from loopback addresses only")
    sent = [h for h in (*_PROXY_HEADERS, *_BROWSER_HEADERS) if h in headers]
    if sent:
        return refused(f"a kernel connection carries no browser or proxy headers (got {sent})")
    if not client_id or not client_id.startswith(KERNEL_CLIENT_PREFIX):
        return refused(f"a kernel connection's client-id starts with {KERNEL_CLIENT_PREFIX!r}")
    return KernelCheck(KernelOutcome.ACCEPTED)
