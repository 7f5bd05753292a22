"""Knowing when not to answer: a question about something the knowledge base never names ("Shopify", "Apple
Pay", "Google Tag Manager") is not answered by text that merely shares its other words. Every name the
question uses must occur in the retrieved text (fuzzily: a misspelt name still counts); besides, the answerer
needs a share of the question's weight in one sentence (ExtractiveAnswerer.min_support)."""
from __future__ import annotations

import re

from rapidfuzz import fuzz

from app.assistant.extractive import STOPWORDS

_NAME_TOKEN = re.compile(r"[A-Za-z0-9][\w'’\-&/]*[\w]|[A-Za-z0-9]|[.?!:;,()\"“”]")
_BREAKS = ".?!:;,()\"“”"
_SENTENCE_ENDS = ".?!:;"
BRAND = "odoo"
"""The product every document is about: "Odoo IoT Box" names the IoT Box."""


def names(question: str) -> list[str]:
    """The names a question uses: runs of words with a capital letter (not a sentence's first word, not a
    stop word), a leading brand dropped; "I" is no name."""
    found: list[list[str]] = []
    run: list[str] = []
    sentence_start = True
    for match in _NAME_TOKEN.finditer(question):
        word = match.group()
        if word in _BREAKS:
            sentence_start = sentence_start or word in _SENTENCE_ENDS
            if run:
                found.append(run)
                run = []
            continue
        word = re.sub(r"['’]s$", "", word)
        named = (not sentence_start and len(word) > 1 and any(ch.isupper() for ch in word)
                 and word.lower() not in STOPWORDS)
        sentence_start = False
        if named:
            run.append(word)
        elif run:
            found.append(run)
            run = []
    if run:
        found.append(run)
    return [" ".join(r[1:] if r[0].lower() == BRAND else r) for r in found if r[1:] or r[0].lower() != BRAND]


MIN_NAME_SIMILARITY = 70
"""rapidfuzz partial_ratio (0-100) above which a name counts as found: a misspelt name ("Chafffee Zoo") is
still found, a name the knowledge base never uses ("Shopify": 57 on the Odoo documentation) is not."""


def unknown_names(question: str, texts: list[str]) -> list[str]:
    """The question's names that the texts do not hold, compared fuzzily. Names of three characters or less
    are left out: an acronym ("TV", "MVP") is often spelt out in the text, and fuzzy scores of so few
    characters mean little."""
    held = " ".join(texts).lower()
    return [name for name in names(question)
            if len(name) > 3 and fuzz.partial_ratio(name.lower(), held) < MIN_NAME_SIMILARITY]
