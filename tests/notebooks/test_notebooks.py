"""The example notebooks run top to bottom in a real Jupyter server's kernel, and do what they say.

Each test executes a notebook with nbclient in a kernel the server started (``runner.py``);
where the notebook talks to a room, bob checks from outside, as a program on the server's
channel socket (the browser side is ``tests/e2e``).
"""

from __future__ import annotations

import re
from ast import literal_eval

import nbformat
import pytest

from tests.e2e.jupyter_process import NOTEBOOKS, JupyterProcess
from tests.notebooks.conftest import NAMES
from tests.notebooks.peer import RoomEvent, RoomPeer
from tests.notebooks.runner import notebook_run

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_there_are_four_notebooks() -> None:
    assert NAMES == [
        "01-chat.ipynb",
        "02-live-dashboard.ipynb",
        "03-realtime-concepts.ipynb",
        "04-beyond-jupyter.ipynb",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_are_valid_and_have_no_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith("# " + name[:2])
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], cell.id
            assert cell.execution_count is None, cell.id


def kernel_says(peer: RoomPeer, event_id: str) -> list[str]:
    """The texts the kernel published as ``event_id``, in arrival order."""
    return [e.data["text"] for e in peer.of(event_id) if e.sender.get("kind") == "kernel"]


@pytest.mark.asyncio
async def test_the_chat_notebook_runs_a_bot_that_answers_in_the_room(
    jupyter: JupyterProcess, bob: RoomPeer
) -> None:
    async with notebook_run(jupyter, "01-chat.ipynb") as nb:
        await nb.run_through()
        assert re.search(r"<Room 'lobby' joined; members: alice>", nb.text("connect"))
        assert nb.mimetypes("widgets").count(WIDGET_VIEW) == 2  # Presence and Chat
        assert nb.text("bot") == "['/help', '/time', '/who']"
        assert re.fullmatch(r"'It is \d\d:\d\d:\d\d here, alice\.'", nb.text("ask"))
        assert nb.text("hello") == "True"
        assert nb.text("members") == "[('alice', ['kernel'])]"

        joined = await bob.join("lobby")
        assert set(joined["state"]) == {"alice", "bob"}
        await bob.publish("lobby", "chat/post", {"text": "hello, bot"})  # not a command
        await bob.publish("lobby", "chat/post", {"text": "/time"})
        await bob.wait_for(lambda: kernel_says(bob, "chat/post"))
        # pushes arrive in order: had the bot answered "hello, bot", that answer came first
        assert re.fullmatch(r"It is \d\d:\d\d:\d\d here, Bob\.", kernel_says(bob, "chat/post")[0])

        await bob.publish("lobby", "chat/post", {"text": "/who"})
        await bob.wait_for(lambda: len(kernel_says(bob, "chat/post")) == 2)
        assert kernel_says(bob, "chat/post")[1] == "2 here: Bob, alice"


def points_after(peer: RoomPeer, marker: RoomEvent) -> list[RoomEvent]:
    """The stream's readings that arrived after ``marker``."""
    i = peer.events.index(marker)
    return [e for e in peer.events[i + 1 :] if e.id == "dash/point"]


@pytest.mark.asyncio
async def test_the_dashboard_notebook_streams_and_obeys_room_controls(
    jupyter: JupyterProcess, bob: RoomPeer
) -> None:
    async with notebook_run(jupyter, "02-live-dashboard.ipynb") as nb:
        await nb.run_until("busy")
        assert WIDGET_VIEW in nb.mimetypes("plot")
        assert WIDGET_VIEW in nb.mimetypes("control")

        await bob.join("dashboard")
        await bob.wait_for(lambda: len(bob.of("dash/point")) >= 5)
        first = bob.of("dash/point")[0]
        assert set(first.data) == {"x", "signal", "clean"}
        assert first.sender["kind"] == "kernel"
        assert all(abs(p.data["clean"]) <= 1.0 for p in bob.of("dash/point"))

        await bob.publish("dashboard", "dash/control", {"text": "amp 5"})
        await bob.wait_for(lambda: kernel_says(bob, "dash/control"))
        assert kernel_says(bob, "dash/control") == ["amp = 5 (asked by Bob)"]
        ack = next(e for e in bob.events if e.id == "dash/control" and e.sender["kind"] == "kernel")
        # the stream changed: readings beyond the old amplitude (sin passes 0.3 often enough)
        await bob.wait_for(lambda: any(abs(p.data["clean"]) > 1.5 for p in points_after(bob, ack)))

        received = len(bob.of("dash/point"))
        await nb.run_through("busy")
        slept = re.fullmatch(
            r"while this cell slept for 3 s, the stream published (\d+) readings\n", nb.text("busy")
        )
        assert slept is not None, nb.text("busy")
        assert int(slept[1]) >= 5
        assert len(bob.of("dash/point")) - received >= 5  # and they reached bob meanwhile

        await nb.run_through("stop")
        stopped = re.fullmatch(r"stopped after (\d+) readings; running: False\n", nb.text("stop"))
        assert stopped is not None, nb.text("stop")
        assert len(bob.of("dash/point")) <= int(stopped[1])  # at most once


@pytest.mark.asyncio
async def test_the_concepts_notebook_measures_both_transports(jupyter: JupyterProcess) -> None:
    async with notebook_run(jupyter, "03-realtime-concepts.ipynb") as nb:
        await nb.run_through()
        assert WIDGET_VIEW in nb.mimetypes("inspector")
        handshake = nb.text("handshake")
        assert "'type': 'ws'" in handshake
        assert "'open?': True" in handshake
        assert "'uid': 'alice'" in handshake
        assert "'kind': 'kernel'" in handshake
        rtt = r"{} requests over {}: median ([\d.]+) ms, 90% under ([\d.]+) ms"
        ws = re.search(rtt.format(100, "WebSocket"), nb.text("time-100"))
        ajax = re.search(rtt.format(100, "Ajax"), nb.text("ajax-peer"))
        assert ws is not None, nb.text("time-100")
        assert ajax is not None, nb.text("ajax-peer")
        assert 0 < float(ws[1]) <= float(ws[2])
        assert 0 < float(ajax[1]) <= float(ajax[2])

        echo = nb.text("echo")
        assert echo.startswith("reply: {'hello': 'world'}\n")
        routed = re.search(r"20 routed requests: median ([\d.]+) ms", echo)
        assert routed is not None, echo
        # two trips through the server (the routed push skips the batching window)
        assert float(routed[1]) > float(ws[1])
        assert "transport: ajax" in nb.text("ajax-peer")

        batches = re.findall(
            r"to the (WebSocket|Ajax) client: (\d+) events in (\d+) batches", nb.text("batching")
        )
        assert [(label, int(got)) for label, got, _ in batches] == [
            ("WebSocket", 20),
            ("Ajax", 20),
        ]
        # 20 events 10 ms apart: fewer batches than events, as the windows gather them
        assert all(1 <= int(n) < 20 for _, _, n in batches), batches

        backoff = nb.text("backoff").splitlines()
        assert backoff[0] == "attempt 1: wait   0.0 to   0.0 s"
        assert backoff[1] == "attempt 2: wait   2.0 to   4.0 s"
        assert backoff[-1] == "attempt 8: wait  30.0 to  30.0 s"
        assert "reconnected over ajax" in nb.text("reconnect")
        delivery = nb.text("at-most-once")
        assert "published while disconnected: False" in delivery
        assert "published after reconnecting: True" in delivery


@pytest.mark.asyncio
async def test_the_plain_tornado_notebook_echoes_broadcasts_and_stops(
    jupyter: JupyterProcess,
) -> None:
    async with notebook_run(jupyter, "04-beyond-jupyter.ipynb") as nb:
        await nb.run_through()
        assert re.fullmatch(r"'http://127\.0\.0\.1:\d+/chsk'", nb.text("listen"))
        assert literal_eval(nb.text("clients")) == ("ws", "ajax")
        assert literal_eval(nb.text("echo")) == [
            {"echo": {"n": 0}, "you-are": "alice"},
            {"echo": {"n": 1}, "you-are": "bob"},
        ]
        assert literal_eval(nb.text("broadcast")) == {
            "alice": {"from": "alice", "text": "hello, everyone"},
            "bob": {"from": "alice", "text": "hello, everyone"},
            "bob (private)": {"from": "server", "text": "just for you, Bob"},
        }
        assert literal_eval(nb.text("uids")) == {
            "ws": ["alice"],
            "ajax": ["bob"],
            "any": ["alice", "bob"],
        }
        assert literal_eval(nb.text("stop")) == {
            "alice closed": True,
            "bob closed": True,
            "port closed": True,
        }
