"""make_backplane, the public names, and the lazy import of redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_sente import backplane
from jupyter_sente.backplane import MemoryBackplane, RedisBackplane, make_backplane
from jupyter_sente.exceptions import UsageError

DOC = Path(__file__).resolve().parents[2] / "docs" / "backplane.md"


def run_fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout


@pytest.mark.parametrize("url", [None, "memory://", "MEMORY://"])
def test_no_url_or_memory_makes_a_memory_backplane(url: str | None) -> None:
    bp = make_backplane(url, server_id="srv-1", namespace="ns")
    assert isinstance(bp, MemoryBackplane)
    assert (bp.server_id, bp.namespace) == ("srv-1", "ns")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://h:6380/1", "REDIS://h"])
def test_redis_urls_make_a_redis_backplane_without_connecting(url: str) -> None:
    bp = make_backplane(url, server_id="srv-1", ping_interval_ms=1000)
    assert isinstance(bp, RedisBackplane)
    assert (bp.url, bp.server_id, bp.ping_interval_ms) == (url, "srv-1", 1000)
    assert not bp.health().running


@pytest.mark.parametrize("url", ["nats://h", "127.0.0.1:6379", "", "unix://redis.sock"])
def test_other_urls_are_usage_errors_naming_the_schemes(url: str) -> None:
    with pytest.raises(UsageError, match=r"memory://.*redis://.*rediss://"):
        make_backplane(url)


def test_the_error_hides_a_password() -> None:
    with pytest.raises(UsageError) as e:
        make_backplane("nats://me:s3cret@h:4222")
    assert "s3cret" not in str(e.value) and "me:***@h:4222" in str(e.value)


def test_importing_backplanes_and_using_memory_does_not_import_redis() -> None:
    code = (
        "import sys, json; from jupyter_sente.backplane import make_backplane;"
        "make_backplane(None); print(json.dumps(sorted(sys.modules)))"
    )
    mods = set(json.loads(run_fresh(code)))
    heavy = sorted(m for m in mods if m.split(".")[0] in ("redis", "tornado", "jupyter_server"))
    assert heavy == []


def test_a_redis_url_without_redis_installed_says_which_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from jupyter_sente.backplane import make_backplane\n"
        "try:\n    make_backplane('redis://127.0.0.1:6379/0')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    assert "pip install 'jupyter-sente[redis]'" in run_fresh(code)


def test_the_exports_are_the_documented_ones() -> None:
    assert set(backplane.__all__) == {
        "CONTROL_BYE",
        "DEFAULT_HUB",
        "DEFAULT_MAX_MESSAGE_BYTES",
        "KINDS",
        "SCHEMES",
        "Backplane",
        "BackplaneHealth",
        "BackplaneMessage",
        "MemoryBackplane",
        "MemoryHub",
        "MessageKind",
        "MessageTooLarge",
        "OnMessage",
        "RedisBackplane",
        "make_backplane",
        "new_message_id",
    }
    doc = DOC.read_text()
    missing = [name for name in backplane.__all__ if f"`{name}" not in doc]
    assert missing == []
    assert all(hasattr(backplane, name) for name in backplane.__all__)
