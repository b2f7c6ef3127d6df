"""Two named users for the real Jupyter servers of the end-to-end and notebook tests.

The servers run in subprocesses with ``--ServerApp.identity_provider_class`` naming
:class:`TwoUsers`: each user logs in with their own token (``?token=...`` in a browser, or
``Authorization: token ...``), and the login cookie then carries their name and colour.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth import IdentityProvider, User

ALICE_TOKEN = "alice-e2e-token"
BOB_TOKEN = "bob-e2e-token"

#: Token -> identity.
USERS = {
    ALICE_TOKEN: User(
        "alice", name="Alice Liddell", display_name="Alice", initials="AL", color="#c2185b"
    ),
    BOB_TOKEN: User("bob", name="Bob Marley", display_name="Bob", initials="BM", color="#1565c0"),
}


class TwoUsers(IdentityProvider):  # type: ignore[misc]
    """Jupyter's identity provider, plus alice's and bob's tokens."""

    async def get_user_token(self, handler: Any) -> User | None:
        user = USERS.get(self.get_token(handler) or "")
        if user is not None:
            return user
        return await super().get_user_token(handler)  # type: ignore[no-any-return]
