"""EDN packer (placeholder over edn-format; replaced by the fast strict reader/writer)."""

from __future__ import annotations

from typing import Any

import edn_format

from jupyter_sente.exceptions import DecodeError, EncodeError

__all__ = ["PACKER", "EdnPacker"]


class EdnPacker:
    name = "edn"

    def pack(self, value: Any) -> str:
        try:
            return str(edn_format.dumps(value))
        except Exception as e:
            raise EncodeError(str(e)) from e

    def unpack(self, text: str) -> Any:
        try:
            return edn_format.loads(text)
        except Exception as e:
            raise DecodeError(str(e)) from e


PACKER = EdnPacker()
