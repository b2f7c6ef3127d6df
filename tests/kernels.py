"""Driving a Jupyter kernel from a test with a jupyter_client client."""

from __future__ import annotations

from typing import Any


async def execute(kc: Any, code: str, timeout: float) -> str:
    """Execute ``code`` on ``kc``'s kernel; its stdout; fails the test with the traceback on an error."""
    out: list[str] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream" and content["name"] == "stdout":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(content["traceback"]))

    reply = await kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    assert reply["content"]["status"] == "ok", "\n".join(errors)
    return "".join(out)
