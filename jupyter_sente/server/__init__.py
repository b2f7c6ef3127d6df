"""Sente's channel-socket server on asyncio, independent of the web server that hosts it.

``ChannelSocketServer`` keeps the clients by (uid, client-id), pushes batched events to uids
(or broadcasts them), routes client events to handlers, and answers what a host hands it:
WebSocket frames and Ajax GETs and POSTs. ``jupyter_sente.tornado`` is the Tornado host.
``attach_backplane`` makes its sends and broadcasts span servers (``docs/backplane.md``).
"""

from jupyter_sente.core.events import ALL_USERS_WITHOUT_UID, NIL_UID, SKIP_CSRF_CHECK
from jupyter_sente.server.backplane import BackplaneLink, attach_backplane
from jupyter_sente.server.channel import AjaxPoll, HttpExchange, ServerChannel, Transport
from jupyter_sente.server.connections import ConnectedUids, Connection
from jupyter_sente.server.options import ServerOptions, cookie_csrf_token_fn, no_user_id
from jupyter_sente.server.request import HttpResponse, RequestInfo
from jupyter_sente.server.router import EventMsg, Handler, Router
from jupyter_sente.server.security import allow_origin, reject_request, valid_csrf_token
from jupyter_sente.server.server import EVERYONE, ChannelSocketServer, ClientTarget, WsSocket

__all__ = [
    "ALL_USERS_WITHOUT_UID",
    "EVERYONE",
    "NIL_UID",
    "SKIP_CSRF_CHECK",
    "AjaxPoll",
    "BackplaneLink",
    "ChannelSocketServer",
    "ClientTarget",
    "ConnectedUids",
    "Connection",
    "EventMsg",
    "Handler",
    "HttpExchange",
    "HttpResponse",
    "RequestInfo",
    "Router",
    "ServerChannel",
    "ServerOptions",
    "Transport",
    "WsSocket",
    "allow_origin",
    "attach_backplane",
    "cookie_csrf_token_fn",
    "no_user_id",
    "reject_request",
    "valid_csrf_token",
]
