"""01-chat.ipynb with two people: alice in JupyterLab, bob in Notebook 7, one server.

Alice opens the notebook and runs it (her kernel joins the room and runs the bot); bob opens
it too and runs the widget cell (collaborators on one notebook share its kernel). The tests
then follow one conversation, in order: a message, presence, the bot, bob going offline and
coming back, bob on Ajax long-polling.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import Person
from tests.e2e.pages import (
    PW_S,
    chat_count,
    open_notebook,
    page_socket,
    run_all,
    run_cells,
    seen_at,
    send_chat,
    wait_chat_line,
    wait_connected,
    widget,
)
from tests.e2e.proxy import Proxy

pytestmark = pytest.mark.browser

NOTEBOOK = "01-chat.ipynb"
#: Delivery between two browsers, in ms (what the issue asks for).
WITHIN_MS = 1000


@dataclass
class Chat:
    alice: Person
    bob: Person


@pytest.fixture(scope="module")
def chat(people: Callable[[str], Person]) -> Chat:
    alice, bob = people("alice"), people("bob")
    open_notebook(alice.page, alice.lab_url(NOTEBOOK))
    run_all(alice.page, NOTEBOOK)
    wait_connected(alice.page, "chat")
    open_notebook(bob.page, bob.nb7_url(NOTEBOOK))
    assert run_cells(bob.page, NOTEBOOK, "widgets") == ["ok"]
    wait_connected(bob.page, "chat")
    return Chat(alice, bob)


def nonce() -> str:
    return uuid.uuid4().hex[:6]


def deliver(sender: Person, receiver: Person, text: str) -> float:
    """Send ``text`` in sender's chat; wait for it in receiver's; the delivery time in ms."""
    sent = send_chat(sender.page, text)
    wait_chat_line(receiver.page, re.escape(text))
    return seen_at(receiver.page, text) - sent


def test_a_message_from_alice_reaches_bob_within_a_second_with_her_name(chat: Chat) -> None:
    text = f"hello Bob, it is Alice ({nonce()})"
    ms = deliver(chat.alice, chat.bob, text)
    print(f"alice -> bob over WebSocket: {ms:.0f} ms")
    assert ms < WITHIN_MS

    line = wait_chat_line(chat.bob.page, re.escape(text))
    assert line.locator(".jps-chat-name").inner_text() == "Alice"
    assert line.get_attribute("data-kind") == "tab"
    wait_chat_line(chat.alice.page, re.escape(text))  # the sender's own box shows it too
    chat.bob.shot("chat-1-bob-nb7-got-message", widget(chat.bob.page, "presence"))
    chat.alice.shot("chat-1-alice-lab-sent-message", widget(chat.alice.page, "presence"))


def test_presence_shows_both_people_on_both_pages(chat: Chat) -> None:
    for person in (chat.alice, chat.bob):
        presence = widget(person.page, "presence")
        for uid in ("alice", "bob"):
            presence.locator(f'.jps-person[data-uid="{uid}"]').wait_for()
        # alice's entry lists her tab and the kernel (it runs as the server's owner, alice)
        alice_conns = presence.locator('.jps-person[data-uid="alice"] .jps-conn')
        kinds = sorted(alice_conns.evaluate_all("els => els.map(e => e.dataset.kind)"))
        assert kinds == ["kernel", "tab"]
        bob_conns = presence.locator('.jps-person[data-uid="bob"] .jps-conn')
        assert bob_conns.evaluate_all("els => els.map(e => e.dataset.kind)") == ["tab"]
        own = "alice" if person is chat.alice else "bob"
        assert presence.locator(f'.jps-person[data-uid="{own}"]').inner_text().count("(you)") == 1
    chat.alice.shot("chat-2-alice-lab-presence", widget(chat.alice.page, "presence"))


def test_the_bot_in_alices_kernel_answers_bobs_time_command(chat: Chat) -> None:
    send_chat(chat.bob.page, "/time")
    answer = r"It is \d\d:\d\d:\d\d here, Bob\."
    for person in (chat.bob, chat.alice):
        line = wait_chat_line(person.page, answer)
        assert line.get_attribute("data-kind") == "kernel"
        assert line.locator(".jps-badge").inner_text() == "kernel"
    chat.bob.shot("chat-3-bob-bot-answered", widget(chat.bob.page, "presence"))


def test_bob_goes_offline_shows_reconnecting_then_catches_up(chat: Chat, proxy: Proxy) -> None:
    bob, alice = chat.bob, chat.alice
    bob.context.set_offline(True)
    proxy.set_online(False)  # set_offline alone leaves open WebSockets up
    status = widget(bob.page, "chat").locator(".jps-status")
    bob.page.wait_for_selector('.jps-chat .jps-status[data-phase="reconnecting"]')
    assert status.inner_text().startswith("reconnecting")
    assert widget(bob.page, "chat").locator("button.jps-accept").is_disabled()
    bob.shot("chat-4-bob-offline-reconnecting", widget(bob.page, "presence"))

    missed = f"while you were away ({nonce()})"
    send_chat(alice.page, missed)
    wait_chat_line(alice.page, re.escape(missed))

    proxy.set_online(True)
    bob.context.set_offline(False)
    online = time.monotonic()
    # the browser fires "online": the page tries at once instead of waiting out its backoff
    bob.page.wait_for_selector('.jps-chat .jps-status[data-phase="connected"]', timeout=20 * PW_S)
    print(f"bob connected again {time.monotonic() - online:.1f} s after coming back online")
    presence = widget(bob.page, "presence")
    for uid in ("alice", "bob"):
        presence.locator(f'.jps-person[data-uid="{uid}"]').wait_for()
    ms = deliver(alice, bob, f"welcome back ({nonce()})")
    print(f"alice -> bob after reconnecting: {ms:.0f} ms")
    assert ms < WITHIN_MS
    ms = deliver(bob, alice, f"thanks, I am back ({nonce()})")
    assert ms < WITHIN_MS
    # at most once: a message published while bob was away is delivered once or not at all
    assert chat_count(bob.page, missed) <= 1
    print(f"missed message delivered after the outage: {chat_count(bob.page, missed)}")
    bob.shot("chat-5-bob-back-online", widget(bob.page, "presence"))


def test_chat_works_both_ways_when_bob_is_forced_to_ajax(chat: Chat) -> None:
    bob, alice = chat.bob, chat.alice
    page_socket(bob.page, 'switchType("ajax")')
    wait_connected(bob.page, "chat", transport="ajax")
    assert widget(bob.page, "chat").locator(".jps-status").inner_text() == "connected · ajax"
    ms_in = deliver(alice, bob, f"can you read me over Ajax? ({nonce()})")
    ms_out = deliver(bob, alice, f"loud and clear, over Ajax ({nonce()})")
    print(f"over Ajax: alice -> bob {ms_in:.0f} ms, bob -> alice {ms_out:.0f} ms")
    assert ms_in < WITHIN_MS
    assert ms_out < WITHIN_MS
    bob.shot("chat-6-bob-ajax", widget(bob.page, "presence"))
