"""Types of the compiled EDN fast paths (``_edn_speedups.c``); ``edn.py`` is their only user."""

from collections.abc import Callable
from typing import Any

SOURCE_SHA256: str
C_MAX_DEPTH: int

def read(text: str, max_depth: int, /) -> Any: ...
def write(value: Any, max_depth: int, /) -> Any: ...
def configure(
    miss: object,
    atoms: dict[str, Any],
    read_atom: Callable[[str], Any],
    read_string: Callable[[str], str],
    read_tagged: Callable[[str, str], Any],
    write_string: Callable[[str], str],
    keyword_text: Callable[[Any], str],
    scalar_writers: dict[type, Callable[[Any], str]],
    plain_types: frozenset[type],
    fast_keyword: type,
    immutable_list: type,
    immutable_dict: type,
    /,
) -> None: ...
