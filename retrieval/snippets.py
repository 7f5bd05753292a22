"""Search snippets made in Python on the k hits: the query's words (and their English stems, as prefixes) marked
in one or two short fragments of each hit's text. The database's ts_headline re-parsed each whole chunk with the
text search parser - about 40% of a hybrid search's cost; here the work is a few str.find calls over ten texts."""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

MAX_WORDS = 30
"""Words in one fragment."""
FRAGMENTS = 2
WORDS_BEFORE = 4
"""Words shown before a fragment's first match."""
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but
by can did do does doing down during each few for from further had has have having he her here hers herself him
himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own s same she should so some such t than that the their theirs them themselves
then there these they this those through to too under until up very was we were what when where which while who
whom why will with you your yours yourself yourselves
""".split())
"""PostgreSQL's English stop words: not marked, as ts_headline did not mark them."""
_WORD = re.compile(r"\w+")
_STEMMER = snowballstemmer.stemmer("english")


@dataclass(frozen=True)
class Marker:
    """The query's words as a snippet marks them: each word's stem (or the word, when the stem is not a prefix of
    it), found at a word's start, and the rest of the word it starts."""

    prefixes: tuple[str, ...]
    """Lower case: found with str.find in the lower-cased text, several times faster than a regular expression."""
    pattern: re.Pattern[str]
    """The same matches, case-insensitive: for a text whose length lower-casing changes."""


@lru_cache(maxsize=4096)
def marker(query: str) -> Marker | None:
    """How a snippet finds the query's words (None: stop words only)."""
    prefixes: set[str] = set()
    for word in _WORD.findall(query.lower()):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        stem = _STEMMER.stemWord(word)
        prefixes.add(stem if len(stem) >= 3 and word.startswith(stem) else word)
        if len(stem) >= 3 and not word.startswith(stem):  # happy -> happi: both
            prefixes.add(stem)
    if not prefixes:
        return None
    ordered = tuple(sorted(prefixes, key=len, reverse=True))
    alternatives = "|".join(re.escape(p) for p in ordered)
    return Marker(ordered, re.compile(rf"\b(?:{alternatives})\w*", re.IGNORECASE))


_WORD_CHAR = re.compile(r"\w")
_WORD_REST = re.compile(r"\w*")


def _spans(low: str, prefixes: tuple[str, ...]) -> list[tuple[int, int]]:
    r"""Where the prefixes start a word of the lower-cased text, each to its word's end, in order: what
    re.finditer(rf"\b(?:prefixes)\w*") finds."""
    starts: set[int] = set()
    for prefix in prefixes:
        at = low.find(prefix)
        while at >= 0:
            if at == 0 or not _WORD_CHAR.match(low, at - 1):
                starts.add(at)
            at = low.find(prefix, at + 1)
    return [(start, _WORD_REST.match(low, start).end()) for start in sorted(starts)]  # type: ignore[union-attr]


def _back(text: str, at: int, words: int) -> int:
    """The start of the word `words` words before position `at`."""
    start = at
    for _ in range(words):
        space = text.rfind(" ", 0, max(0, start - 1))
        if space < 0:
            return 0
        start = space + 1
    return start


_FORWARD = re.compile(rf" ?[^ ]*(?: [^ ]*){{0,{MAX_WORDS - 1}}}")
"""MAX_WORDS words of a text whose words are single-spaced (from a word's start, or the space before it)."""


def _forward(text: str, at: int) -> int:
    """The end of the MAX_WORDS-th word from position `at`."""
    return _FORWARD.match(text, at).end()  # type: ignore[union-attr]  # matches at any position


def snippet(text: str, found: Marker | None) -> str:
    """Up to FRAGMENTS fragments of about MAX_WORDS words around the query's words, each match in
    <mark>...</mark>, joined by " ... "; without a match, the text's first words. The words are found in the
    lower-cased text; a text whose length lower-casing changes (a few letters outside ASCII) is matched
    case-insensitively instead."""
    flat = " ".join(text.split())
    spans: list[tuple[int, int]] = []
    if found is not None:
        low = flat.lower()
        spans = (_spans(low, found.prefixes) if len(low) == len(flat)
                 else [m.span() for m in found.pattern.finditer(flat)])
    fragments: list[str] = []
    end = 0
    for at, _ in spans:
        if at < end:
            continue
        start = max(_back(flat, at, WORDS_BEFORE), end)
        end = _forward(flat, start)
        fragments.append(_marked(flat, spans, start, end))
        if len(fragments) == FRAGMENTS:
            break
    return " ... ".join(fragments) if fragments else flat[:_forward(flat, 0)]


def _marked(flat: str, spans: list[tuple[int, int]], start: int, end: int) -> str:
    """flat[start:end] with each span inside it in <mark>...</mark> (a span is cut at end)."""
    out, at = [], start
    for s, e in spans[bisect_left(spans, (start, start)):]:
        if s >= end:
            break
        e = min(e, end)
        out += (flat[at:s], "<mark>", flat[s:e], "</mark>")
        at = e
    out.append(flat[at:end])
    return "".join(out)
