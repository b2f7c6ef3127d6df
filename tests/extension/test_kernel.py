"""Real kernels, started through the server's REST API, as room peers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_sente.exceptions import UsageError
from jupyter_sente.kernel import KernelPeer, connection
from jupyter_sente.values import kw
from tests.extension.conftest import MS, OWNER, Recorder, S
from tests.extension.test_rooms import CONNS, EVENT, FROM, OK, ROOM, PresenceMirror, join
from tests.kernels import execute

JOIN_CELL = """
import jupyter_sente as sente
room = sente.room("lobby")

@room.on("dash/query")
def answer(msg):
    return {"double": msg.data["q"] * 2, "asker": msg.sender.uid}
"""


class Kernel:
    """A kernel of the test server, driven with a jupyter_client client."""

    def __init__(self, kernel_id: str, kc: Any, fetch: Any) -> None:
        self.id = kernel_id
        self.kc = kc
        self.fetch = fetch

    async def run(self, code: str, timeout: float = 30 * S) -> str:
        """Execute ``code``; its stdout; fails the test with the traceback on an error."""
        return await execute(self.kc, code, timeout)

    def start(self, code: str) -> str:
        """Send ``code`` for execution without waiting; the request's msg_id."""
        return str(self.kc.execute(code))

    async def reply_to(self, msg_id: str, timeout: float = 20 * S) -> dict[str, Any]:
        """The shell reply to an earlier :meth:`start`."""
        while True:
            msg: dict[str, Any] = await self.kc.get_shell_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    async def interrupt(self) -> None:
        await self.fetch("api", "kernels", self.id, "interrupt", method="POST", body="")


@pytest.fixture
def start_kernel(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[Any]:
    """``await start_kernel()``: a kernel in a session for ``work/nb.ipynb``, ready to execute."""
    started: list[Kernel] = []

    async def start() -> Kernel:
        (jp_root_dir / "work").mkdir(exist_ok=True)
        body = {
            "path": "work/nb.ipynb",
            "name": "nb.ipynb",
            "type": "notebook",
            "kernel": {"name": "python3"},
        }
        r = await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
        kernel_id = json.loads(r.body)["kernel"]["id"]
        kc = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60 * S)
        kernel = Kernel(kernel_id, kc, jp_fetch)
        started.append(kernel)
        return kernel

    yield start
    for kernel in started:
        kernel.kc.stop_channels()


def events(rec: Recorder, ev_id: str) -> list[Any]:
    return [m.data for m in rec.of("sente.room/event") if m.data[EVENT][0] == kw(ev_id)]


def ask(q: int) -> list[Any]:
    return [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("dash/query"), {kw("q"): q}]}]


async def test_a_kernel_joins_answers_publishes_and_keeps_handling_while_a_cell_sleeps(
    clients: Any, start_kernel: Any
) -> None:
    alice, alice_rec = await clients("alice", client_id="a-1")
    bob, bob_rec = await clients("bob", client_id="b-1")
    for c in (alice, bob):
        assert (await c.request(join("lobby"), timeout=5 * S))[OK] is True
    kernel = await start_kernel()
    await kernel.run(JOIN_CELL)

    # presence: the owner's kernel, with the notebook it runs (relative to the server root)
    view = PresenceMirror(alice_rec, "lobby")
    await alice_rec.wait_for(lambda: "owner" in view.state())
    (conn,) = view.state()[OWNER][CONNS]
    assert conn[kw("kind")] == "kernel" and conn[kw("notebook")] == "work/nb.ipynb"
    assert conn[kw("client-id")] == f"kernel-{kernel.id}"

    # a request from a tab is routed to the kernel's handler and answered
    assert await alice.request(ask(21), timeout=10 * S) == {
        kw("double"): 42,
        kw("asker"): "alice",
    }

    # a publish from the kernel reaches the members of two users
    await kernel.run('room.publish("chat/post", {"text": "from the kernel"})')
    for rec in (alice_rec, bob_rec):
        (pushed,) = await rec.wait_for(lambda r=rec: events(r, "chat/post"))
        assert pushed[EVENT] == [kw("chat/post"), {kw("text"): "from the kernel"}]
        assert pushed[FROM][kw("uid")] == OWNER and pushed[FROM][kw("kind")] == "kernel"

    # presence is observable in the kernel
    out = await kernel.run('print(sorted(m["uid"] for m in room.members))')
    assert out.strip() == "['alice', 'bob', 'owner']"

    # handlers keep firing while a cell blocks
    sleeping = kernel.start("import time; time.sleep(10)")
    await asyncio.sleep(300 * MS)
    t0 = asyncio.get_running_loop().time()
    for q in range(3):
        reply = await alice.request(ask(q), timeout=5 * S)
        assert reply[kw("double")] == 2 * q
    assert asyncio.get_running_loop().time() - t0 < 5 * S  # well inside the 10 s sleep
    await kernel.interrupt()
    interrupted = await kernel.reply_to(sleeping)
    assert interrupted["content"]["status"] == "error"
    assert interrupted["content"]["ename"] == "KeyboardInterrupt"


RERUN_CELL = """
@room.on("dash/query")
def answer(msg):
    return {"version": 2}
"""

REQUEST_CELL = """
from jupyter_sente.exceptions import ReplyClosed
print(room.request("tab/ask", {"n": 1}, timeout=5))
try:
    room.request("nobody/handles", None, timeout=2)
except ReplyClosed as e:
    print("closed:", e)
"""


async def test_rerunning_a_handler_cell_replaces_it_and_the_kernel_can_request(
    clients: Any, start_kernel: Any
) -> None:
    alice, alice_rec = await clients("alice", client_id="a-1")
    await alice.request(join("lobby", handles=[kw("tab/ask")]), timeout=5 * S)
    kernel = await start_kernel()
    await kernel.run(JOIN_CELL)
    await kernel.run(RERUN_CELL)
    assert await alice.request(ask(1), timeout=10 * S) == {kw("version"): 2}
    out = await kernel.run('print(len(room._handlers["dash/query"]), room.handled_ids())')
    assert out.strip() == "1 ['dash/query']"

    # the kernel asks a tab: the tab answers the routed request
    async def answer_tab() -> None:
        routed = await alice_rec.wait_for(lambda: events(alice_rec, "tab/ask"))
        request_id = routed[0][kw("request-id")]
        value = {kw("from-tab"): routed[0][EVENT][1][kw("n")] + 1}
        await alice.send(
            [kw("sente.room/reply"), {kw("request-id"): request_id, kw("value"): value}]
        )

    answering = asyncio.ensure_future(answer_tab())
    out = await kernel.run(REQUEST_CELL)
    await answering
    lines = out.strip().splitlines()
    assert lines[0] == "{'from-tab': 2}"
    assert lines[1].startswith("closed:") and "no member handles it" in lines[1]

    # leaving: the others see the kernel go at once
    view = PresenceMirror(alice_rec, "lobby")
    await alice_rec.wait_for(lambda: OWNER in view.state())
    await kernel.run("room.leave()")
    await alice_rec.wait_for(lambda: OWNER not in view.state())


class TestOnAJsonServer:
    @pytest.fixture
    def sente_config(self, sente_config: dict[str, Any]) -> dict[str, Any]:
        return {**sente_config, "packer": "json"}

    async def test_a_kernel_speaks_the_servers_packer(self, start_kernel: Any) -> None:
        kernel = await start_kernel()
        out = await kernel.run(JOIN_CELL + "print([m['uid'] for m in room.members])")
        assert out.strip() == repr([OWNER])


def test_a_kernel_without_the_variables_is_told_why_and_what_to_do() -> None:
    with pytest.raises(UsageError) as e:
        connection(environ={})
    text = str(e.value)
    assert "JUPYTER_SENTE_URL and JUPYTER_SENTE_KERNEL_SECRET" in text
    assert "restart the kernel" in text


async def test_a_kernel_rejoins_its_rooms_after_being_dropped(
    clients: Any, chsk_url: str, kernel_secret: str
) -> None:
    # the kernel's peer, in this process on worker threads (the test's loop serves the server)
    alice, alice_rec = await clients("alice", client_id="a-1")
    await alice.request(join("lobby"), timeout=5 * S)
    view = PresenceMirror(alice_rec, "lobby")

    def connect() -> KernelPeer:
        peer = KernelPeer(chsk_url, kernel_secret, client_id="kernel-inproc")
        peer.room("lobby").on("dash/query", lambda msg: {"double": msg.data["q"] * 2})
        return peer

    peer = await asyncio.to_thread(connect)
    try:
        await alice_rec.wait_for(lambda: OWNER in view.state())
        await asyncio.to_thread(peer.client.disconnect)
        await alice_rec.wait_for(lambda: OWNER not in view.state())  # after the grace period
        await asyncio.to_thread(peer.client.reconnect)
        await alice_rec.wait_for(lambda: OWNER in view.state())
        assert await alice.request(ask(4), timeout=5 * S) == {kw("double"): 8}  # handlers too
    finally:
        await asyncio.to_thread(peer.close)
