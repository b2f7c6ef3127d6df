"""``SenteApp``: the jupyter_server extension that hosts the channel socket, rooms and kernels.

Every option is a traitlet: ``c.SenteApp.lp_timeout_ms = 10000`` in
``jupyter_server_config.py``, or ``--SenteApp.lp_timeout_ms=10000`` on the command line.
``docs/extension.md`` has the table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable
from typing import Any

from jupyter_server.auth import User
from jupyter_server.extension.application import ExtensionApp
from traitlets import (
    Bool,
    Callable,
    Int,
    TraitError,
    Unicode,
    Union,
    default,
    import_item,
    validate,
)

from jupyter_sente.backplane import make_backplane
from jupyter_sente.backplane.presence import EXPIRY_FACTOR, HEARTBEAT_MS
from jupyter_sente.core.events import SKIP_CSRF_CHECK
from jupyter_sente.core.rooms import (
    K_KIND,
    KIND_KERNEL,
    KIND_TAB,
    Identity,
    Peer,
)
from jupyter_sente.exceptions import UsageError
from jupyter_sente.jupyter.handlers import HealthHandler, SenteHandler
from jupyter_sente.jupyter.kernel_auth import (
    ENV_PACKER,
    ENV_SECRET,
    ENV_URL,
    loopback_url,
    new_secret,
    owner_username,
)
from jupyter_sente.packers import PACKER_NAMES
from jupyter_sente.rooms.attach import attach_rooms
from jupyter_sente.rooms.federation import RoomFederation
from jupyter_sente.rooms.hub import (
    DEFAULT_REQUEST_TIMEOUT_MS,
    MAX_REQUEST_TIMEOUT_MS,
    Caller,
    RoomHub,
    RoomPolicy,
)
from jupyter_sente.server import (
    BackplaneLink,
    ChannelSocketServer,
    EventMsg,
    RequestInfo,
    ServerOptions,
    attach_backplane,
)

__all__ = ["CHSK_PATH", "HEALTH_PATH", "PAGE_CONFIG_KEY", "SenteApp"]

#: Where the channel socket lives, under the server's ``base_url``.
CHSK_PATH = "sente/chsk"
#: The key of ``{"packer": ...}`` in the page config of JupyterLab and Notebook 7 pages
#: (``<script id="jupyter-config-data">``): the widgets read it before they connect.
PAGE_CONFIG_KEY = "jupyterSente"
#: The health check (JSON), under the server's ``base_url``.
HEALTH_PATH = "sente/health"

_XSRF_COOKIE = "_xsrf"
#: The server's defaults, which the traitlets' defaults are.
_DEFAULTS = ServerOptions()


class SenteApp(ExtensionApp):
    """Sente channel sockets for Jupyter: ``{base_url}sente/chsk``, rooms, presence, kernel peers."""

    name = "jupyter_sente"
    description = "Sente channel sockets (WebSocket + Ajax long-poll) for Jupyter."
    load_other_extensions = True

    packer = Unicode(
        "edn", help=f"Wire format, as in Sente's :packer; one of {', '.join(PACKER_NAMES)}."
    ).tag(config=True)
    ws_kalive_ms = Int(
        _DEFAULTS.ws_kalive_ms,
        allow_none=True,
        help="Server WebSocket keep-alive (Sente halves it internally); None turns it off.",
    ).tag(config=True)
    ws_ping_timeout_ms = Int(
        _DEFAULTS.ws_ping_timeout_ms,
        allow_none=True,
        help="Close a WebSocket whose keep-alive ping gets no activity within this many ms.",
    ).tag(config=True)
    lp_timeout_ms = Int(
        _DEFAULTS.lp_timeout_ms,
        help="Ajax long-poll hold time and Ajax reply timeout, in ms (< 60000).",
    ).tag(config=True)
    send_buf_ms_ws = Int(
        _DEFAULTS.send_buf_ms_ws, help="Batching window of pushes over WebSocket, in ms."
    ).tag(config=True)
    send_buf_ms_ajax = Int(
        _DEFAULTS.send_buf_ms_ajax, help="Batching window of pushes over Ajax, in ms."
    ).tag(config=True)
    ms_allow_reconnect_before_close_ws = Int(
        _DEFAULTS.ms_allow_reconnect_before_close_ws,
        help="Grace period (ms) before a closed WebSocket client counts as gone.",
    ).tag(config=True)
    ms_allow_reconnect_before_close_ajax = Int(
        _DEFAULTS.ms_allow_reconnect_before_close_ajax,
        help="Grace period (ms) before a silent Ajax client counts as gone.",
    ).tag(config=True)
    max_message_bytes = Int(
        _DEFAULTS.max_message_bytes,
        help="Largest message a client may send (bytes); larger ones close the socket.",
    ).tag(config=True)
    max_send_queue_bytes = Int(
        _DEFAULTS.max_send_queue_bytes,
        help="Unsent bytes a WebSocket may queue before the server closes it (a slow consumer).",
    ).tag(config=True)
    request_timeout_ms = Int(
        DEFAULT_REQUEST_TIMEOUT_MS, help="Timeout of a room request that names none (:timeout-ms)."
    ).tag(config=True)
    max_request_timeout_ms = Int(
        MAX_REQUEST_TIMEOUT_MS, help="Upper bound on any room request's timeout, in ms."
    ).tag(config=True)
    backplane_url = Unicode(
        None,
        allow_none=True,
        help=(
            "Share rooms, per-uid sends and broadcasts with other servers through a "
            "backplane: redis://127.0.0.1:6379/0 (needs the 'redis' extra) or memory:// "
            "(servers in one process). None: this server's clients and rooms are its own."
        ),
    ).tag(config=True)
    backplane_namespace = Unicode(
        "default", help="Backplane namespace: servers share rooms only within one namespace."
    ).tag(config=True)
    backplane_heartbeat_ms = Int(
        HEARTBEAT_MS,
        help=(
            "How often this server re-announces its room members on the backplane, in ms. "
            f"The others drop them {EXPIRY_FACTOR} heartbeats after the last one heard "
            "(a server that dies without saying goodbye)."
        ),
    ).tag(config=True)
    room_policy = Union(
        [Callable(), Unicode()],
        default_value=None,
        allow_none=True,
        help=(
            "Who may join which room: a callable policy(join) -> bool (or awaitable), or its "
            "import string 'package.module.function'. None: any authenticated user, any room."
        ),
    ).tag(config=True)
    kernel_connections = Bool(
        True,
        help=(
            "Let kernels started by this server connect as its owner: exports "
            f"{ENV_URL} and {ENV_SECRET} into the server's environment."
        ),
    ).tag(config=True)
    kernel_username = Unicode(
        help="The uid kernels connect as (default: JUPYTERHUB_USER, else the account running the server)."
    ).tag(config=True)

    @default("kernel_username")
    def _kernel_username_default(self) -> str:
        return owner_username()

    @validate("packer")
    def _validate_packer(self, proposal: dict[str, Any]) -> str:
        value: str = proposal["value"]
        if value not in PACKER_NAMES:
            raise TraitError(
                f"SenteApp.packer must be one of {', '.join(PACKER_NAMES)}, got {value!r}"
            )
        return value

    @validate("backplane_heartbeat_ms")
    def _validate_heartbeat(self, proposal: dict[str, Any]) -> int:
        value: int = proposal["value"]
        if not 0 < value <= 3_600_000:
            raise TraitError(
                f"SenteApp.backplane_heartbeat_ms must be in (0, 3600000], got {value!r}"
            )
        return value

    # set by initialize_settings
    server: ChannelSocketServer
    hub: RoomHub
    link: BackplaneLink | None
    federation: RoomFederation | None
    kernel_secret: str | None = None
    owner_user: User

    # -- jupyter_server hooks ----------------------------------------------------------------

    def initialize_settings(self) -> None:
        """Build the channel-socket server and the room hub; export the kernel variables."""
        assert self.serverapp is not None  # ExtensionApp links it before initialize
        self.hook_logging()
        self.owner_user = User(username=self.kernel_username)
        self.server = ChannelSocketServer(self.server_options())
        self.hub = attach_rooms(
            self.server,
            caller=self.caller,
            policy=self.resolved_policy(),
            default_request_timeout_ms=self.request_timeout_ms,
            max_request_timeout_ms=self.max_request_timeout_ms,
        )
        self.settings["jupyter_sente_server"] = self.server
        self.settings["jupyter_sente_hub"] = self.hub
        self.publish_page_config()
        self.link = self.federation = None
        if self.backplane_url is not None:
            backplane = make_backplane(self.backplane_url, namespace=self.backplane_namespace)
            self.link = attach_backplane(self.server, backplane)
            self.federation = RoomFederation(
                self.hub, self.link, heartbeat_ms=self.backplane_heartbeat_ms
            )
            # the backplane connects on the running loop (the federation starts the link)
            self.serverapp.io_loop.add_callback(self.federation.start)
        if self.kernel_connections:
            self.kernel_secret = new_secret()
            os.environ[ENV_SECRET] = self.kernel_secret
            os.environ[ENV_PACKER] = self.packer
            os.environ.pop(ENV_URL, None)  # a stale URL from an earlier server in this process
            # The HTTP port is bound after extensions load: publish the URL from the loop.
            self.serverapp.io_loop.add_callback(self.publish_kernel_url)

    def initialize_handlers(self) -> None:
        """Route ``{base_url}sente/chsk`` and ``sente/health`` (ExtensionApp adds the base_url)."""
        self.handlers.append((rf"/{CHSK_PATH}", SenteHandler, {"server": self.server}))
        self.handlers.append((rf"/{HEALTH_PATH}", HealthHandler, {"server": self.server}))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        self.publish_kernel_url()

    async def stop_extension(self) -> None:
        """Close the hub and the server; withdraw the kernel variables if they are still ours."""
        # after a failed load (bad option) there is nothing to close
        hub, server = getattr(self, "hub", None), getattr(self, "server", None)
        federation = getattr(self, "federation", None)
        link = getattr(self, "link", None)
        if federation is not None:
            await federation.stop()  # stops the link too
        if link is not None:
            await link.stop()
        if hub is not None:
            hub.close()
        if server is not None:
            server.close()
        if self.kernel_secret is not None and os.environ.get(ENV_SECRET) == self.kernel_secret:
            for var in (ENV_SECRET, ENV_URL, ENV_PACKER):
                os.environ.pop(var, None)

    # -- the pieces ------------------------------------------------------------------------

    def hook_logging(self) -> None:
        """Log ``jupyter_sente.*`` (backplane outages, refused clients) as the server logs.

        Only when nothing else configured logging (no handler on the package's logger nor on
        the root logger): then Python would print warnings bare and drop the info lines.
        """
        ours = logging.getLogger("jupyter_sente")
        if ours.handlers or logging.getLogger().handlers or not self.log.handlers:
            return
        for handler in self.log.handlers:
            ours.addHandler(handler)
        ours.setLevel(self.log.getEffectiveLevel())

    def server_options(self) -> ServerOptions:
        """The channel-socket server's options from the traitlets."""
        return ServerOptions(
            user_id_fn=self.user_id,
            csrf_token_fn=self.csrf_reference,
            handshake_data_fn=self.handshake_data,
            # Jupyter's origin policy runs in the handler (allow_origin, allow_origin_pat)
            allowed_origins="all",
            packer=self.packer,
            ws_kalive_ms=self.ws_kalive_ms,
            ws_ping_timeout_ms=self.ws_ping_timeout_ms,
            lp_timeout_ms=self.lp_timeout_ms,
            send_buf_ms_ws=self.send_buf_ms_ws,
            send_buf_ms_ajax=self.send_buf_ms_ajax,
            ms_allow_reconnect_before_close_ws=self.ms_allow_reconnect_before_close_ws,
            ms_allow_reconnect_before_close_ajax=self.ms_allow_reconnect_before_close_ajax,
            max_message_bytes=self.max_message_bytes,
            max_send_queue_bytes=self.max_send_queue_bytes,
        )

    def resolved_policy(self) -> RoomPolicy | None:
        """``room_policy`` as a callable (an import string is imported)."""
        policy = self.room_policy
        if isinstance(policy, str):
            policy = import_item(policy)
            if not callable(policy):
                raise UsageError(f"SenteApp.room_policy {self.room_policy!r} is not callable")
        return policy  # type: ignore[no-any-return]

    def publish_page_config(self) -> None:
        """Tell browser pages the packer before they connect (a handshake is already packed).

        JupyterLab and Notebook 7 render ``page_config_data`` into every page they serve; they
        add their own keys to the same dict, whichever extension loads first.
        """
        assert self.serverapp is not None  # ExtensionApp links it before initialize
        page_config = self.serverapp.web_app.settings.setdefault("page_config_data", {})
        page_config[PAGE_CONFIG_KEY] = {"packer": self.packer}

    def publish_kernel_url(self) -> None:
        """Put the loopback channel-socket URL into the environment kernels inherit."""
        if self.kernel_secret is None or os.environ.get(ENV_SECRET) != self.kernel_secret:
            return
        app = self.serverapp
        if app is None:
            return
        if app.sock:
            self.log.warning(
                "jupyter_sente: the server listens on a UNIX socket; kernels cannot connect"
            )
            return
        url = loopback_url(app.ip, app.port, app.base_url, tls=bool(app.certfile))
        os.environ[ENV_URL] = url
        self.log.debug("jupyter_sente: kernels connect to %s", url)

    @staticmethod
    def jupyter_user(request: RequestInfo) -> User:
        """The authenticated Jupyter identity of a request (set by the handler's ``prepare``)."""
        user = getattr(request.native, "current_user", None)
        if not isinstance(user, User):
            raise UsageError("the channel socket's requests come through SenteHandler")
        return user

    @staticmethod
    def is_kernel(request: RequestInfo) -> bool:
        """True for a request authenticated with the kernel secret."""
        return bool(getattr(request.native, "sente_kernel", False))

    def user_id(self, request: RequestInfo) -> Hashable:
        """Sente's uid: the Jupyter identity's ``username``."""
        return self.jupyter_user(request).username

    def csrf_reference(self, request: RequestInfo) -> Any:
        """The reference CSRF token: the ``_xsrf`` cookie; token and kernel requests skip the check."""
        handler = request.native
        if self.is_kernel(request) or getattr(handler, "token_authenticated", False):
            return SKIP_CSRF_CHECK
        if handler is not None and handler.settings.get("disable_check_xsrf", False):
            return SKIP_CSRF_CHECK
        return request.cookies.get(_XSRF_COOKIE) or None

    def identity(self, request: RequestInfo) -> Identity:
        """The presence identity of a request's user."""
        user = self.jupyter_user(request)
        return Identity(
            uid=user.username,
            name=user.name,
            display_name=user.display_name,
            initials=user.initials,
            color=user.color,
            avatar_url=user.avatar_url,
        )

    def handshake_data(self, request: RequestInfo) -> Any:
        """The handshake's data: who you are for presence, and your kind (tab or kernel)."""
        kind = KIND_KERNEL if self.is_kernel(request) else KIND_TAB
        return {**self.identity(request).to_wire(), K_KIND: kind}

    def caller(self, msg: EventMsg) -> Caller:
        """Who sent a room event: identity, kind and (kernels) the notebook it runs."""
        request = msg.request
        kernel = self.is_kernel(request)
        notebook = None
        if kernel:
            conn_request = msg.connection.request if msg.connection is not None else request
            notebook = self.notebook_label(
                conn_request.param("notebook") or request.param("notebook")
            )
        return Caller(
            Peer(msg.uid, msg.client_id),
            self.identity(request),
            KIND_KERNEL if kernel else KIND_TAB,
            notebook,
        )

    def notebook_label(self, path: str | None) -> str | None:
        """A kernel's notebook as presence shows it: relative to the server's root, never absolute.

        Kernels report ``JPY_SESSION_NAME``, an absolute path: other members see only the part
        under ``root_dir`` (the name alone for a file elsewhere).
        """
        if not path:
            return None
        root = getattr(self.serverapp, "root_dir", None)
        if root and os.path.isabs(path):
            rel = os.path.relpath(path, os.path.abspath(os.path.expanduser(root)))
            path = os.path.basename(path) if rel.startswith(os.pardir) else rel
        return path.replace(os.sep, "/")
