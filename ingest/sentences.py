"""Sentence boundaries from a maintained segmenter (syntok): abbreviations ("e.g.", "S.A."), version numbers
("14.0"), identifiers ("account.move", "INV/2024/0001") and a sentence ending in a number stay whole. Run on one
block at a time, never across the blank line between blocks, and never split at a source's line breaks."""
from __future__ import annotations

import re
from functools import lru_cache

from syntok import segmenter

_LIST_MARKER = re.compile(r"^(?:[-•]|\d{1,3}\.)\s+")


@lru_cache(maxsize=65_536)
def sentence_spans(block: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each sentence of one block of text, from the segmenter's token offsets: the spans are
    slices of the block, in order, never re-joined text."""
    spans: list[tuple[int, int]] = []
    for paragraph in segmenter.analyze(block):
        for sentence in paragraph:
            if not sentence:
                continue
            start = sentence[0].offset
            end = min(len(block), sentence[-1].offset + len(sentence[-1].value))
            if end > start:
                spans.append((start, end))
    return tuple(spans)


def list_marker(block: str) -> int:
    """Length of a list item's marker ("- ", "3. ") at the block's start, 0 if there is none."""
    match = _LIST_MARKER.match(block)
    return match.end() if match else 0
