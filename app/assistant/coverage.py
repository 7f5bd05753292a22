"""Knowing when not to answer: a question about something the knowledge base never names ("Shopify", "Apple
Pay", "Google Tag Manager") is not answered by text that merely shares its other words. Every name the
question uses must occur in the retrieved text (fuzzily: a misspelt name still counts); every key term the
knowledge base (almost) never uses ("kiosk", "gift", "expiry") must be written in the cited passage or be close
in meaning to a word of it; a question asking for a quantity needs an answer that states one; besides, the
answerer needs a share of the question's weight in one sentence (ExtractiveAnswerer.min_support)."""
from __future__ import annotations

import re

from lemminflect import getAllLemmas
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from app.assistant.extractive import (
    BRAND,
    COUNT_OR_AMOUNT,
    NUMBER,
    QUESTION_WORDS,
    STOPWORDS,
    asked_for,
    expanded,
    norm,
    words,
)
from retrieval.retriever import TermCounts

_NAME_TOKEN = re.compile(r"[A-Za-z0-9][\w'’\-&/]*[\w]|[A-Za-z0-9]|[.?!:;,()\"“”]")
_BREAKS = ".?!:;,()\"“”"
_SENTENCE_ENDS = ".?!:;"


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
    lowered = [t.lower() for t in texts]
    held = " ".join(lowered)
    return [name for name in names(question)
            if len(name) > 3 and fuzz.partial_ratio(name.lower(), held) < MIN_NAME_SIMILARITY
            and not any(reordered(name.lower().split(), text) for text in lowered)]


NAME_WINDOW = 16
"""Characters beyond a name's own length within which its words, in another order, still make it."""


def reordered(parts: list[str], text: str) -> bool:
    """Whether every word of a name of several words is in the text (lower case) as a whole word, all of them
    within the name's length and NAME_WINDOW characters: "Lane/5000 for Ingenico" names "Ingenico Lane/5000"."""
    if len(parts) < 2:
        return False
    width = sum(len(p) for p in parts) + len(parts) - 1 + NAME_WINDOW
    places = [[m.start() for m in re.finditer(rf"(?<!\w){re.escape(p)}(?!\w)", text)] for p in parts]
    if not all(places):
        return False
    return any(all(any(abs(at - start) <= width for at in others) for others in places[1:]) for start in places[0])


NOT_TERMS = frozenset("""
nobody anybody somebody everybody anyone someone everyone nothing anything something everything none
myself yourself yourselves himself herself itself ourselves themselves many much
because although though unless whereas whether since
doesn don isn aren wasn weren hasn haven hadn didn won wouldn shouldn couldn can't ll ve re
""".split())
"""Words that name nothing (pronouns, the stubs of contractions a tokenizer leaves)."""


def names_a_thing(word: str) -> bool:
    """Whether a word can name a thing: a noun (or an adjective, a noun phrase's other half) by lemminflect's
    lexicon, or a word it does not know (product names, jargon: "webshop", "XML-RPC"); not a pronoun."""
    lower = word.lower()
    if lower in NOT_TERMS:
        return False
    kinds = getAllLemmas(lower)
    return not kinds or bool({"NOUN", "PROPN", "ADJ"} & kinds.keys())


_TOKEN = re.compile(r"[\w’'-]+")


VERB_CUES = frozenset("i you we they he she".split())
"""Subjects after which a question's next word is its verb ("can I return", "how do I make", "should we
archive")."""


def key_terms(question: str) -> list[str]:
    """The question's words that can name a thing (names_a_thing), lower-cased; words of letters only, three or
    more of them (not "50th"), not stop or question words, not the brand, and not the words right after "what",
    "which", "what is the" or "how many" (up to the next stop word: "what year", "which pricing option"), which
    name the kind of answer asked for, not a topic the answer has to name."""
    kind = asked_for(question)
    out = []
    before = ""
    for token in _TOKEN.findall(question):
        for word in re.split(r"[-’']", re.sub(r"['’]s$", "", token)):
            previous, lower = before, word.lower()
            before = lower
            acronym = len(word) >= 2 and word.isupper()
            if word[:1].isupper() and not acronym and not question.startswith(word):
                continue  # a name: unknown_names checks those, fuzzily
            if previous in VERB_CUES:
                continue  # "how do I make a return": a verb here, though "make" can be a noun
            if ((len(lower) >= 3 or acronym) and lower.isalpha() and lower not in STOPWORDS
                    and lower not in QUESTION_WORDS and lower != BRAND and lower not in kind
                    and names_a_thing(lower)):
                out.append(lower)
    return list(dict.fromkeys(out))


MIN_TERM_SIMILARITY = 85
"""rapidfuzz partial_ratio above which a key term counts as written in the text ("carousel" / "carrousel")."""


def unwritten(terms: list[str], text: str) -> list[str]:
    """The terms the text does not hold: not as a word of the same crude stem, not misspelt by one letter (terms
    of four letters or more: "tackels", "whic"), not fuzzily inside a longer word (five letters or more)."""
    lower = text.lower()
    raw = set(words(lower))
    held = raw | {norm(w) for w in raw}

    def written(term: str) -> bool:
        if norm(term) in held:
            return True
        if len(term) >= 4 and process.extractOne(term, held, scorer=DamerauLevenshtein.distance,
                                                 score_cutoff=1) is not None:
            return True
        return len(term) >= 5 and fuzz.partial_ratio(term, lower) >= MIN_TERM_SIMILARITY

    return [t for t in terms if not written(t)]


RARE_SHARE = 0.001
"""A word held by at most this share of the knowledge base's chunks (at least none) is one it (almost) never
uses: a question about it is not answered by text that does not name it, or something close to it."""


def rare(counts: TermCounts) -> list[str]:
    """The words the knowledge base (almost) never uses, but misspellings of words it uses (misspelt); none when the
    lexical index counts no chunk yet."""
    if counts.chunks <= 0:
        return []
    return [w for w, df in counts.df.items() if df <= RARE_SHARE * counts.chunks and not misspelt(w, counts)]


def misspelt(word: str, counts: TermCounts) -> bool:
    """A word no chunk holds that is one letter away (two, from eight letters on) from a term of the index ("tackels"
    for "tackles", both stemmed) or from a stop word ("whic"); words of three letters or less never count."""
    if counts.df.get(word, 0) > 0 or len(word) < 4:
        return False
    edits = 2 if len(word) >= 8 else 1
    lexeme = counts.lexemes.get(word, word)
    if process.extractOne(lexeme, counts.near.get(word, ()), scorer=DamerauLevenshtein.distance,
                          score_cutoff=edits) is not None:
        return True
    return process.extractOne(word, STOPWORDS, scorer=DamerauLevenshtein.distance, score_cutoff=1) is not None


MIN_TERM_MEANING = 0.45
"""The cosine (the local model's contextual word vectors) from which a word of the cited passage is close enough
in meaning to a rare key term ("unhappy" / "dissatisfied": 0.70); unrelated words mostly score 0.1-0.4."""


_EXTREME_QUANTITY = re.compile(r"\b(?:maximum|minimum|max|min|total|largest|smallest|highest|lowest)\s+(?:number|"
                               r"amount|count|quantity|price|cost)\b", re.IGNORECASE)
_STATES_QUANTITY = re.compile(r"\b(?:free|unlimited|no limit|none|as many|as much|any number|few|couple|dozens|"
                              r"hundreds|thousands|millions)\b", re.IGNORECASE)
"""A quantity in words that NUMBER does not read ("it is free", "as many as you need")."""


def asks_quantity(question: str) -> bool:
    """A question asking for a count or an amount: how many, how much, what percentage, the maximum number of ...
    (not how long or how often: "daily", "until the invoice is paid" answer those without a number)."""
    question = expanded(question)
    return COUNT_OR_AMOUNT.search(question) is not None or _EXTREME_QUANTITY.search(question) is not None


def lacks_quantity(question: str, answer: str) -> bool:
    """A question asking for a count or an amount that the answer does not state (no number, in digits or words):
    whatever else the answer says, it does not answer ("How much does the IoT Box cost?" answered with "Connecting
    a terminal requires an IoT Box")."""
    return asks_quantity(question) and NUMBER.search(answer) is None and _STATES_QUANTITY.search(answer) is None
