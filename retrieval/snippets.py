"""Search snippets made in Python on the k hits: the query's words (and their English stems, as prefixes) marked
in one or two short fragments of each hit's text. The database's ts_headline re-parsed each whole chunk with the
text search parser - about 40% of a hybrid search's cost; here the work is a compiled regular expression over
ten texts."""
from __future__ import annotations

import re
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


@lru_cache(maxsize=4096)
def marker(query: str) -> re.Pattern[str] | None:
    """A pattern that finds the query's words in a text: each word's stem (or the word, when the stem is not a
    prefix of it) and the rest of the word it starts."""
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
    alternatives = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\w*")  # lower case: snippet() matches it on the lower-cased text


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


def snippet(text: str, pattern: re.Pattern[str] | None) -> str:
    """Up to FRAGMENTS fragments of about MAX_WORDS words around the query's words, each match in
    <mark>...</mark>, joined by " ... "; without a match, the text's first words. The pattern (marker()) is matched
    on the lower-cased text, which is twice as fast as a case-insensitive pattern; a text whose length lower-casing
    changes (a few letters outside ASCII) is matched case-insensitively instead."""
    flat = " ".join(text.split())
    low = flat.lower()
    if pattern is not None and len(low) != len(flat):
        low, pattern = flat, re.compile(pattern.pattern, re.IGNORECASE)
    fragments: list[str] = []
    end = 0
    for match in pattern.finditer(low) if pattern is not None else ():  # lazily: stops once the fragments are full
        if match.start() < end:
            continue
        start = max(_back(flat, match.start(), WORDS_BEFORE), end)
        end = _forward(flat, start)
        fragments.append(_marked(flat, low, pattern, start, end))  # type: ignore[arg-type]
        if len(fragments) == FRAGMENTS:
            break
    return " ... ".join(fragments) if fragments else flat[:_forward(flat, 0)]


def _marked(flat: str, low: str, pattern: re.Pattern[str], start: int, end: int) -> str:
    """flat[start:end] with each match of the pattern in low (the same positions) in <mark>...</mark>."""
    out, at = [], start
    for match in pattern.finditer(low, start, end):
        out += (flat[at:match.start()], "<mark>", flat[match.start():match.end()], "</mark>")
        at = match.end()
    out.append(flat[at:end])
    return "".join(out)
