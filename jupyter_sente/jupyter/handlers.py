"""The channel socket at ``{base_url}sente/chsk``: Jupyter's authentication around Sente's handler.

Who may connect: a Jupyter identity (login cookie or token, as for any Jupyter endpoint)
authorized for action ``execute`` on resource ``sente``; or a kernel of this server with the
kernel secret (see :mod:`jupyter_sente.jupyter.kernel_auth`). Jupyter's origin policy
(``allow_origin``, ``allow_origin_pat``) applies to every request; Sente's CSRF check (the
``_xsrf`` cookie against ``csrf-token`` / ``X-CSRF-Token``) runs in the server on every
request of a cookie session, including WebSocket upgrades and long-polls.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web

from jupyter_sente.jupyter.kernel_auth import KernelOutcome, check_kernel_request
from jupyter_sente.server import ChannelSocketServer
from jupyter_sente.tornado import ChannelSocketHandler, request_info

if TYPE_CHECKING:
    from jupyter_sente.jupyter.app import SenteApp

__all__ = ["AUTH_RESOURCE", "HealthHandler", "SenteHandler", "health_report"]

#: The authorization resource (action ``execute``) an Authorizer decides on.
AUTH_RESOURCE = "sente"


class SenteHandler(WebSocketMixin, ChannelSocketHandler, JupyterHandler):
    """GET (WebSocket or Ajax poll) and POST (Ajax send) of the Jupyter-hosted channel socket."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, server: ChannelSocketServer) -> None:
        super().initialize(server)
        # ExtensionApp puts itself in the web app's settings under its name
        self.sente_app: SenteApp = self.settings["jupyter_sente"]
        #: True when the request authenticated with the kernel secret.
        self.sente_kernel = False

    def set_default_headers(self) -> None:
        # As Jupyter's kernel WebSocket: page headers (CSP...) mean nothing on an upgrade.
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            super().set_default_headers()

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Authenticate: the kernel secret (loopback only), else Jupyter's identity provider."""
        check = check_kernel_request(
            secret=self.sente_app.kernel_secret,
            headers={k.lower(): v for k, v in self.request.headers.items()},
            remote_ip=self.request.remote_ip,
            client_id=request_info(self).client_id,
        )
        if check.outcome is KernelOutcome.REFUSED:
            self.log.warning(
                "refused a kernel connection to %s from %s: %s",
                self.request.path,
                self.request.remote_ip,
                check.reason,
            )
            raise web.HTTPError(403, check.reason)
        if check.outcome is KernelOutcome.ACCEPTED:
            # Jupyter's identity provider knows nothing of the secret: the owner is the user.
            self.sente_kernel = True
            self.current_user = self._jupyter_current_user = self.sente_app.owner_user
            return
        await super().prepare(*args, **kwargs)
        # Tornado checks the origin of WebSocket upgrades only; Ajax gets the same policy.
        if not self.check_origin():
            raise web.HTTPError(403, "Unauthorized origin")

    def check_xsrf_cookie(self) -> None:
        """Sente's check replaces Tornado's here (the server runs it on every request).

        Tornado reads ``_xsrf`` / ``X-Xsrftoken`` / ``X-Csrftoken``; Sente clients send
        ``X-CSRF-Token`` (Ajax) and ``csrf-token`` (WebSocket), which the server compares with
        the ``_xsrf`` cookie in constant time. Token and kernel requests are exempt, as Jupyter
        exempts token requests.
        """
        return None

    async def _authorize(self) -> None:
        if self.sente_kernel:
            return  # the secret is the owner's credential
        user = self.current_user
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, user, "execute", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403, f"{user.username} may not use the channel socket")

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """A WebSocket upgrade, or an Ajax handshake or long-poll."""
        await self._authorize()
        await super().get(*args, **kwargs)

    @ws_authenticated  # 403 without a user, as web.authenticated does for POST
    async def post(self, *args: Any, **kwargs: Any) -> None:
        """An Ajax send."""
        await self._authorize()
        await super().post(*args, **kwargs)


def health_report(server: ChannelSocketServer) -> dict[str, Any]:
    """What ``{base_url}sente/health`` answers: ``ok``, connection counts, the backplane's health.

    ``ok`` is false only when a backplane is configured and not connected (or its listener
    died). Channel names are not shown (they name rooms and uids): only how many.
    """
    backplane = server.backplane
    report: dict[str, Any] = {
        "ok": True,
        "connections": len(server.connections()),
        "connected_uids": len(server.connected_uids.any),
        "backplane": None,
    }
    if backplane is not None:
        health = backplane.health()
        fields = {f.name: getattr(health, f.name) for f in dataclasses.fields(health)}
        report["backplane"] = {**fields, "subscribed": len(health.subscribed), "ok": health.ok}
        report["ok"] = health.ok
    return report


class HealthHandler(APIHandler):
    """GET ``{base_url}sente/health``: :func:`health_report` as JSON; 503 when not ``ok``.

    Authenticated like the REST API; authorized for action ``read`` on resource ``sente``.
    """

    auth_resource = AUTH_RESOURCE

    def initialize(self, server: ChannelSocketServer) -> None:
        self.server = server

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """The report (a monitor polls it)."""
        report = health_report(self.server)
        self.set_status(200 if report["ok"] else 503)
        self.finish(json.dumps(report))
