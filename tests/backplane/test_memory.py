"""What is particular to the in-process backplane: hubs and bounded inboxes."""

from __future__ import annotations

import pytest

from jupyter_sente.backplane import DEFAULT_HUB, BackplaneMessage, MemoryBackplane, MemoryHub
from tests.backplane.helpers import Inbox


@pytest.mark.asyncio
async def test_servers_on_different_hubs_do_not_see_each_other() -> None:
    a = MemoryBackplane(server_id="a", hub=MemoryHub())
    b = MemoryBackplane(server_id="b", hub=MemoryHub())
    c = MemoryBackplane(server_id="c", hub=b.hub)
    inbox_b = Inbox()
    await a.start(Inbox())
    await b.start(inbox_b)
    await c.start(Inbox())
    await a.publish(BackplaneMessage("broadcast", body="from-a"))
    await c.publish(BackplaneMessage("broadcast", body="from-c"))
    await inbox_b.wait_body("from-c")
    assert inbox_b.bodies() == ["from-c"]
    for bp in (a, b, c):
        await bp.stop()


@pytest.mark.asyncio
async def test_the_default_hub_is_shared_and_left_clean() -> None:
    a, b = MemoryBackplane(server_id="a"), MemoryBackplane(server_id="b")
    inbox_b = Inbox()
    await a.start(Inbox())
    await b.start(inbox_b)
    assert DEFAULT_HUB.subscribers(a.channel("broadcast")) == 2
    await a.publish(BackplaneMessage("broadcast", body="hi"))
    await inbox_b.wait_body("hi")
    await a.stop()
    await b.stop()
    assert DEFAULT_HUB.subscribers(a.channel("broadcast")) == 0


@pytest.mark.asyncio
async def test_a_full_inbox_drops_and_counts_on_the_receiver() -> None:
    hub = MemoryHub()
    a = MemoryBackplane(server_id="a", hub=hub)
    b = MemoryBackplane(server_id="b", hub=hub, max_pending=3)
    inbox_b = Inbox()
    await a.start(Inbox())
    await b.start(inbox_b)
    for i in range(10):  # no await in between: b's listener gets no chance to drain
        assert a.publish_nowait(BackplaneMessage("broadcast", body=i))
    await inbox_b.wait_count(3)
    await a.publish(BackplaneMessage("broadcast", body="after"))
    await inbox_b.wait_body("after")
    assert inbox_b.bodies() == [0, 1, 2, "after"]
    assert b.health().dropped_overflow == 7
    for bp in (a, b):
        await bp.stop()
