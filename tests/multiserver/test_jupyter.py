"""Two real Jupyter servers (subprocesses, token auth) sharing one real Redis.

A client on server A and a kernel on server B, started through B's REST API, meet in one
room: presence on both sides, publishes both ways, a request from A answered by the kernel's
handler on B. Then B is killed without a goodbye, and A's client sees the kernel leave as a
presence diff within the documented expiry (3 heartbeats, plus one check period).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import urllib.error
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from jupyter_client.asynchronous import AsyncKernelClient

from jupyter_sente.values import kw
from tests.backplane.conftest import RedisServer
from tests.backplane.helpers import seconds
from tests.extension.test_startup import TOKEN, ServerProcess
from tests.kernels import execute
from tests.multiserver.conftest import Connect
from tests.multiserver.helpers import FROM, join, publish, request

pytestmark = [pytest.mark.redis, pytest.mark.asyncio]

#: Both servers' presence heartbeat: a server silent for 3 of them is dropped.
HEARTBEAT_MS = 1000

KERNEL_CELL = """
import json, os, threading
import jupyter_sente as sente

room = sente.room("lobby")
posted = threading.Event()
posts = []

@room.on("chat/post")
def on_post(msg):
    posts.append((msg.sender.uid, msg.data["text"]))
    posted.set()

@room.on("dash/query")
def answer(msg):
    return {"double": msg.data["q"] * 2, "asker": msg.sender.uid}

def members_become(n, timeout):
    done = threading.Event()
    def check(_=None):
        if len(room.members) >= n:
            done.set()
    room.observe(check, names="members")
    check()
    try:
        return done.wait(timeout)
    finally:
        room.unobserve(check, names="members")

print(os.getpid())
"""


class Kernel:
    """A kernel of a server process, driven over its connection file."""

    def __init__(self, kc: AsyncKernelClient) -> None:
        self.kc = kc

    async def run(self, code: str, timeout: float = 30) -> str:
        """Execute ``code``; its stdout; fails the test with the traceback on an error."""
        return (await execute(self.kc, code, seconds(timeout))).strip()


@pytest_asyncio.fixture
async def pair(
    tmp_path: Path, redis_server: RedisServer, namespace: str
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """Servers A and B (whose kernels connect as ``bob``) on the Redis, both answering."""
    started: list[ServerProcess] = []
    for name, owner in (("a", "alice-owner"), ("b", "bob")):
        (tmp_path / name).mkdir()
        started.append(
            ServerProcess(
                "server",
                tmp_path / name,
                '--ServerApp.jpserver_extensions={"jupyter_sente": True}',
                f"--SenteApp.backplane_url={redis_server.url}",
                f"--SenteApp.backplane_namespace={namespace}",
                f"--SenteApp.backplane_heartbeat_ms={HEARTBEAT_MS}",
                f"--SenteApp.kernel_username={owner}",
            )
        )
    try:
        for server in started:
            await asyncio.to_thread(server.ready)
        yield started[0], started[1]
    finally:
        for server in started:
            await asyncio.to_thread(server.stop)


async def health(server: ServerProcess) -> dict[str, Any]:
    """The server's ``sente/health`` report (a 503 while the backplane is down, too)."""
    try:
        report: dict[str, Any] = await asyncio.to_thread(server.api, "sente/health")
    except urllib.error.HTTPError as e:
        assert e.code == 503, e
        report = json.loads(e.read())
    return report


async def healthy(server: ServerProcess, timeout: float = 10) -> dict[str, Any]:
    """Poll the health check until it is ok: the backplane connects after the server listens."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds(timeout)
    while not (report := await health(server))["ok"]:
        assert loop.time() < deadline, report
        await asyncio.sleep(0.05)
    return report


async def test_a_client_on_one_jupyter_server_and_a_kernel_on_another_share_a_room(
    pair: tuple[ServerProcess, ServerProcess], connect: Connect
) -> None:
    a, b = pair
    for server in (a, b):
        report = await healthy(server)
        assert report["backplane"]["backend"] == "redis", report

    # a kernel on B, started through B's REST API, joins the room with two handlers
    body = {"path": "nb.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
    session = await asyncio.to_thread(b.api, "api/sessions", "POST", body)
    kernel_id = session["kernel"]["id"]
    kc = AsyncKernelClient(connection_file=str(b.runtime / f"kernel-{kernel_id}.json"))
    kc.load_connection_file()
    kc.start_channels()
    kernel = Kernel(kc)
    kernel_pid = None
    try:
        await kc.wait_for_ready(timeout=seconds(60))
        kernel_pid = int(await kernel.run(KERNEL_CELL))

        # a client on A, authenticated by A's token (an anonymous Jupyter user)
        url = a.info()["url"].rstrip("/") + "/sente/chsk"
        alice = await connect(url, None, "a-1", headers={"Authorization": f"token {TOKEN}"})
        me = alice.client.uid
        assert isinstance(me, str) and me
        await alice.client.request(join("lobby"), timeout=seconds(5))

        # presence on both: A's client sees B's kernel, B's kernel sees A's client
        both = {me: ["a-1"], "bob": [f"kernel-{kernel_id}"]}
        await alice.wait_for(lambda: alice.presence("lobby") == both, timeout=10)
        out = await kernel.run(
            'print(members_become(2, 10)); print(json.dumps(sorted(m["uid"] for m in room.members)))',
        )
        assert out.splitlines() == ["True", json.dumps(sorted([me, "bob"]))]

        # publishes both ways
        await alice.client.send(publish("lobby", "chat/post", {kw("text"): "from A"}))
        out = await kernel.run("print(posted.wait(10), posts)")
        assert out == f"True [({me!r}, 'from A')]"
        await kernel.run('room.publish("chat/post", {"text": "from B"})')
        (pushed,) = await alice.wait_for(lambda: alice.room_events("chat/post"))
        assert pushed[kw("event")][1] == {kw("text"): "from B"}
        assert pushed[FROM][kw("uid")] == "bob" and pushed[FROM][kw("kind")] == "kernel"

        # a request from A, answered by the kernel's handler on B
        answer = await alice.client.request(request("lobby", "dash/query", {kw("q"): 21}), 10)
        assert answer == {kw("double"): 42, kw("asker"): me}

        # B dies without a goodbye: its kernel leaves A's presence by expiry, as a diff
        seen = len(alice.msgs)
        os.killpg(b.proc.pid, signal.SIGKILL)
        loop = asyncio.get_running_loop()
        killed = loop.time()
        await alice.wait_for(lambda: alice.presence("lobby") == {me: ["a-1"]}, timeout=15)
        took = loop.time() - killed
        assert [i for i in alice.diffs_dropping("lobby", "bob") if i >= seen]
        heartbeat = HEARTBEAT_MS / 1000
        assert heartbeat * 0.9 <= took <= 4 * heartbeat + seconds(2), took
        assert (await health(a))["ok"] is True
    finally:
        kc.stop_channels()
        if kernel_pid is not None:
            # B's kernels exit on their own once B is gone (ipykernel polls its parent)
            with contextlib.suppress(ProcessLookupError):
                os.kill(kernel_pid, signal.SIGKILL)
