"""``{base_url}sente/health``: the channel socket's and the backplane's state, authenticated."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.extension.conftest import S, sente_app


async def test_without_a_backplane_the_server_is_healthy_and_says_so(
    jp_fetch: Any, clients: Any
) -> None:
    await clients("alice", client_id="a-1")
    r = await jp_fetch("sente", "health", headers={"Authorization": "token alice-token"})
    report = json.loads(r.body)
    assert report == {"ok": True, "connections": 1, "connected_uids": 1, "backplane": None}


@pytest.mark.parametrize("token", ["", "mallory-token"])
async def test_the_health_check_needs_an_authorized_user(jp_fetch: Any, token: str) -> None:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("sente", "health", headers={"Authorization": f"token {token}"})
    assert e.value.code == 403


class TestWithABackplane:
    @pytest.fixture
    def sente_config(self) -> dict[str, Any]:
        return {"backplane_url": "memory://", "backplane_namespace": "health-test"}

    async def test_it_reports_the_backplane_and_503_while_it_is_down(
        self, jp_fetch: Any, jp_serverapp: Any
    ) -> None:
        app = sente_app(jp_serverapp)
        assert app.link is not None and await app.link.backplane.wait_connected(5 * S)
        r = await jp_fetch("sente", "health")
        report = json.loads(r.body)
        bp = report["backplane"]
        assert report["ok"] is True and bp["ok"] is True and bp["backend"] == "memory"
        assert bp["server_id"] == app.link.backplane.server_id
        assert bp["subscribed"] == 2  # broadcast and its own channel: counted, not named
        assert bp["dropped_while_down"] == 0

        await app.link.backplane.stop()  # as if it were down
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("sente", "health")
        assert e.value.code == 503
        assert e.value.response is not None
        down = json.loads(e.value.response.body)
        assert down["ok"] is False and down["backplane"]["connected"] is False
