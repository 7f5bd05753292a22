"""The normalised text's conventions, shared by the loaders that write it and everything that reads it: blocks
joined by one blank line; no block but code holds a line break, and code is indented by four spaces (as a
reader sees it set apart), so that a one-line code block is still known as code."""
from __future__ import annotations

from collections.abc import Iterator

BLOCK_SEPARATOR = "\n\n"
CODE_INDENT = "    "


def inline(text: str) -> str:
    """Soft line breaks and runs of white space become one space."""
    return " ".join(text.split())


def block_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each non-blank block of normalised text: line breaks around it trimmed, a code
    block's indentation kept."""
    position = 0
    for block in text.split(BLOCK_SEPARATOR):
        if block.strip():
            start = position + len(block) - len(block.lstrip("\n"))
            yield start, position + len(block.rstrip())
        position += len(block) + len(BLOCK_SEPARATOR)


def is_code(block: str) -> bool:
    """Code, as the loaders mark it: indented. (Text stored without a loader may hold line breaks anywhere.)"""
    return block.startswith(CODE_INDENT)
