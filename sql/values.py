"""Values PostgreSQL can hold, checked before they reach it: JSON of bounded depth without NUL characters
(jsonb and text cannot store U+0000; a deep document exhausts recursion in every JSON library on the way),
text of bounded length."""
from __future__ import annotations

import re

from typing import Any

from sql.errors import InvalidInput

MAX_JSON_DEPTH = 64
"""Deepest nesting accepted in metadata, filters and webhook payloads."""


def check_json(value: Any, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """value, once it is known to nest at most max_depth deep and to hold no NUL in a key or string."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                raise InvalidInput(f"{what} nests deeper than {max_depth} levels")
            for key, inner in item.items():
                if isinstance(key, str) and "\x00" in key:
                    raise InvalidInput(f"{what} holds the NUL character (\\u0000) in a key, which cannot be stored")
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                raise InvalidInput(f"{what} nests deeper than {max_depth} levels")
            stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str) and "\x00" in item:
            raise InvalidInput(f"{what} holds the NUL character (\\u0000), which cannot be stored")
    return value


def check_text(value: str, what: str, max_length: int) -> str:
    """Text of at most max_length characters without NUL."""
    if len(value) > max_length:
        raise InvalidInput(f"{what} is {len(value):,} characters long; at most {max_length:,} are accepted")
    if "\x00" in value:
        raise InvalidInput(f"{what} holds the NUL character (\\u0000), which cannot be stored")
    return value


def storable(text: str) -> str:
    """Text as PostgreSQL can store it, for messages the service writes (a job's error, a parse failure's
    reason) that may quote input holding a NUL: each NUL becomes U+FFFD."""
    return text.replace("\x00", "\ufffd")


TENANT_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
"""A tenant id: 1-64 letters, digits, '_', '.', ':' or '-'."""
