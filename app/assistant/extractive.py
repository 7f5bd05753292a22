"""The offline answerer: picks the sentence of the retrieved chunks most likely to answer and, when the
question asks for one, the short span in it (a name, a date, a number, a phrase); both are ranked by
small linear scorers trained on SQuAD's training articles (eval/spans.py)."""
from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import snowballstemmer

from ingest.instructions import overlaps
from ingest.sentences import list_marker, sentence_spans
from ingest.text import block_spans, is_code

STOPWORDS = frozenset("""
a an the and or but if of at by for with about against between into through during before after above
below to from up down in out on off over under again further then once here there when where why how all
any both each few more most other some such no nor not only own same so than too very s t can will just
don should now is are was were be been being have has had having do does did doing i me my we our you
your he him his she her it its they them their what which who whom whose this that these those am would
could also as within upon among per via since until while whether yet
""".split())
QUESTION_WORDS = frozenset("what which who whom whose when where why how".split())
BRAND = "odoo"
"""The product every document is about: "Odoo IoT Box" names the IoT Box; "Odoo" names nothing a question asks."""
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
                "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
                "hundred|thousand|million|billion|dozen|several|half")
UNITS = (r"%|percent|per cent|million|billion|trillion|thousand|hundred|km|kilometres|kilometers|miles|mi|feet|"
         r"ft|metres|meters|m|kg|tons|tonnes|pounds|lb|years|year|months|days|hours|minutes|seconds|people|"
         r"yards|points|degrees|°[CF]?|acres|square miles|sq mi|times|members|students|games|dollars|cents|"
         r"euros|species|votes|seats")

_DATE = re.compile(
    rf"\b(?:(?:{MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{3,4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{MONTHS}),?\s+\d{{3,4}}|"
    rf"(?:{MONTHS})\s+\d{{3,4}}|(?:{MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?|(?:early |late |mid-|the )?\d{{3,4}}s?|"
    rf"(?:the )?\d{{1,2}}(?:st|nd|rd|th) century|(?:{MONTHS}))\b"
)
NUMBER = re.compile(
    rf"(?:(?:about|approximately|around|over|nearly|almost|more than|less than|up to)\s+)?"
    rf"[$£€¥]?\d[\d,]*(?:\.\d+)?(?:\s*(?:{UNITS})\b)?|\b(?:{NUMBER_WORDS})(?:[\s-](?:{NUMBER_WORDS}))*(?:\s+(?:{UNITS})\b)?",
    re.IGNORECASE,
)
_PROPER = re.compile(
    r"\b[A-Z][\w'’\-\.]*(?:\s+(?:(?:of|the|de|du|von|van|and|for|la|le|del|da|in|on)\s+)?[A-Z][\w'’\-\.]*)*"
)
_QUOTED = re.compile(r"[\"“]([^\"”]{2,80})[\"”]")
_WORD = re.compile(r"[A-Za-z0-9][\w'’\-\.]*[\w]|[A-Za-z0-9]")
_HEADING = re.compile(r"^\s*(#{1,6}\s|[=\-~^*+`:.'\"_#]{3,}\s*$|\.\. )")


PATTERNS = (("quoted", _QUOTED), ("proper", _PROPER), ("date", _DATE), ("number", NUMBER))
PATTERN_NAMES = ("quoted", "proper", "date", "number", "phrase")
KINDS = ("thing", "person", "date", "number", "place", "explain")
SPAN_WEIGHTS = Path(__file__).with_name("span_weights.json")
SENTENCE_WEIGHTS = Path(__file__).with_name("sentence_weights.json")
SENTENCE_PATTERNS = ("quoted", "proper", "date", "number")
SIMILARITY_COLUMNS = ("cosine", "token_match", "content_token_match", "token_coverage")
"""The question-sentence similarities the sentence scorer weighs (app/assistant/similarity.py): cosine of
the sentence vectors; the mean over the question's tokens of each one's best cosine with a token of the
sentence (late interaction, as in ColBERT), over all its tokens and over its content tokens only; the
mean over the sentence's tokens of each one's best cosine with a question token."""


def norm(word: str) -> str:
    """Lower-case, without a possessive, stemmed (Snowball's English stemmer): 'invoice', 'invoices', 'invoiced'
    and 'invoicing' are one word, as are 'delete' and 'deleted'."""
    w = word.lower().strip(".'’-")
    for suffix in ("'s", "’s"):
        if w.endswith(suffix):
            w = w[: -len(suffix)]
    return _stem(w)


_STEMMER = snowballstemmer.stemmer("english")
_STEMMING = threading.Lock()


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    with _STEMMING:  # a Snowball stemmer keeps the word it works on in itself
        return _STEMMER.stemWord(word)


def words(text: str) -> list[str]:
    """The text's words as the answerer reads them: letters and digits, with inner apostrophes, hyphens and dots
    ("don't", "self-checkout", "ir.model.data")."""
    return _WORD.findall(text)


def content_words(text: str) -> list[str]:
    return [norm(w) for w in _WORD.findall(text) if w.lower() not in STOPWORDS and w.lower() not in QUESTION_WORDS]


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of text: each line (a block of normalised text, or a line of an
    answer) cut into sentences by the segmenter."""
    out = []
    position = 0
    for line in text.split("\n"):
        out.extend((position + a, position + b) for a, b in sentence_spans(line))
        position += len(line) + 1
    return out


_AUXILIARY = "does|do|did|is|are|was|were|will|can|could|should|would|has|have|had|must|might|may"
_WH = re.compile(r"\b(?:what|which|how|where|who|whom|whose|why|when)\b")


_CONTRACTED = re.compile(r"\b(what|where|who|when|how|which)['’]s\b", re.IGNORECASE)


def expanded(question: str) -> str:
    """The question with a question word's contracted "is" written out ("Where's the menu" -> "Where is the menu"),
    so that what it asks for reads the same either way."""
    return _CONTRACTED.sub(r"\1 is", question)


def asks(question: str, word: str) -> bool:
    """Whether the (lower-case) question asks with this question word: followed by a verb that asks ("when does",
    "where can"), ending it ("... works where?"), or opening a question that asks with no other; not a word joining a
    clause ("bill customers when the order is confirmed", "when creating a key, what ...")."""
    if re.search(rf"\b{word}\s+(?:{_AUXILIARY})\b|\b{word}\s*\?\s*$", question):
        return True
    opening = re.match(rf"\s*(?:in\s+|at\s+|from\s+|to\s+|by\s+|for\s+|with\s+)?{word}\b", question)
    return opening is not None and not _WH.search(question, opening.end())


COUNT_OR_AMOUNT = re.compile(r"\bhow (?:many|much)\b|\bwhat (?:percentage|percent|number|amount|proportion|"
                             r"fraction)\b", re.IGNORECASE)
"""A question asking how many or how much (app.assistant.coverage declines an answer that states no quantity)."""
_MEASURE = re.compile(r"\bhow (?:long|far|old|large|big|tall|high|fast|often)\b")


def answer_type(question: str) -> str:
    q = expanded(question.lower())
    if COUNT_OR_AMOUNT.search(q) or _MEASURE.search(q):
        return "number"
    if asks(q, "when") and re.search(r"\bwhen (?:does|do)\b", q):
        return "explain"  # what always happens ("when does Odoo compute the cost?"): an event, not a date
    if asks(q, "when") or re.search(r"\bwhat (year|years|date|day|month|century|decade|time|period|era)\b|\bwhich "
                                    r"(year|century|decade|month|day)\b|\bin what year\b", q):
        return "date"
    if asks(q, "who") or re.search(r"\bwhom\b|\bwhose\b|\bwhat (person|man|woman|name)\b|\bwhich (person|man|"
                                   r"woman)\b", q):
        return "person"
    if asks(q, "where") or re.search(r"\bwhat (city|country|state|place|town|region|continent|location)\b|\bwhich "
                                     r"(city|country|state|place|town|region|continent)\b", q):
        return "place"
    if re.match(r"\s*(how|why)\b", q) or re.search(r"\bhow (do|does|can|should|to)\b", q):
        return "explain"  # a procedure or a reason: the sentence is the answer, not a span of it
    return "thing"


_HOW_TO = re.compile(
    r"\b(?:which|what)\b.*\b(?:setting|option|feature|button|menu|field|box|tab|app|module|product type|policy|rule|"
    r"report|key|command|mode)s?\b|\bwhere (?:do|can|should|is|are)\b|\bwhat do (?:i|we)\b|"
    r"\bhow (?:do|can|should) (?:i|we|you)\b", re.IGNORECASE)
_UI_NAME = re.compile(r"(?<=[\w,;:→>)] )[A-Z][\w\-]*(?:\s+(?:(?:of|per|a|an|the|to|by|on|for|and|in|from|with)\s+)?"
                      r"[A-Z\d][\w\-]*)*")
UI_NAME_WEIGHT = 1.0
"""What naming a screen's element is worth to a sentence's score, for a question about operating the software.
Software documentation names its buttons, menus, fields and options in capitals inside a sentence ("check
Electronic Scale", "click on Add a language"); a question on how to do something, or which setting or option
does it, is answered by the answer that names one (in the chosen sentence or one shown with it: answer_text), where
the one that only restates the task does not.
SQuAD has no such questions, so the sentence scorer cannot learn it: the weight is set by hand, the middle of the
range (0.75-1.25) over which the Odoo documentation questions are answered the same."""


_MENU_PATH = re.compile(r"[A-Z][\w&'’-]*(?:\s+[\w&'’-]+){0,4}\s*(?:→|‣|›|»|-->|->|>)\s*[A-Z]")
MENU_PATH_WEIGHT = 1.5
"""What giving a menu path ("Inventory --> Operations --> Run scheduler", as the loaders render a menu selection) in the
answer a sentence makes (answer_text) is worth to its score, for a question asking where something is done or which
menu does it: in a software manual the answer to "where" is a place in the software, as a place name answers it in
an encyclopedia. Set by hand as UI_NAME_WEIGHT is, the middle of the range (1.0-2.0) over which the Odoo
documentation questions are answered the same."""


def asks_where(question: str) -> bool:
    """A question asking where something is done, or which menu does it."""
    return answer_type(question) == "place" or re.search(r"\bmenus?\b", question, re.IGNORECASE) is not None


def names_menu_path(sentence: str) -> bool:
    """Whether the sentence gives a menu path: capitalised names joined by arrows ("Sales → Configuration")."""
    return _MENU_PATH.search(sentence) is not None


def asks_how_to(question: str) -> bool:
    """A question about operating the software: how to do something, where to find it, which setting, option,
    button or menu does it."""
    return bool(_HOW_TO.search(expanded(question)))


def names_ui(sentence: str, q_words: set[str]) -> bool:
    """Whether the sentence names something in capitals, not as its first word, that the question does not
    name (a button, a menu, an option)."""
    return any(set(content_words(m.group())) - q_words - {BRAND} for m in _UI_NAME.finditer(sentence))


_HOW_OFTEN = re.compile(r"\bhow (?:often|frequently)\b|\bat what (?:interval|frequency)\b|"
                        r"\bhow many times (?:a|an|per)\b", re.IGNORECASE)
_PERIOD = r"(?:second|minute|hour|day|night|week|month|quarter|year)s?"
_FREQUENCY = re.compile(
    rf"\b(?:every|each|per)\s+(?:other\s+|few\s+|[\d.,]+\s+|(?:{NUMBER_WORDS})\s+)?{_PERIOD}\b|"
    rf"\b(?:once|twice|(?:[\d]+|{NUMBER_WORDS}) times)\s+(?:a|an|per|every)\s+{_PERIOD}\b|"
    r"\b(?:hourly|daily|nightly|weekly|fortnightly|monthly|bimonthly|quarterly|yearly|annual|annually|biennial|"
    r"biennially|semi-?annual|semi-?annually|triennial)\b", re.IGNORECASE)
FREQUENCY_WEIGHT = 3.0
"""What stating a frequency ("every hour", "daily", "twice a year") is worth to a sentence's score, for a question
asking how often something happens. The scorer reads "how often" as asking for a number, but a frequency often holds
none ("every hour"), while another sentence of the same page holds a number that answers nothing ("45000 chunks per
file"). Set by hand as UI_NAME_WEIGHT is, in the range (2.5-4.0) over which the Odoo documentation questions are
answered the same; on SQuAD 6 of 5,696 answers change with both (2 gained, 2 lost)."""

_WHY = re.compile(r"\bwhy\b|\bhow come\b|\bwhat (?:is|was|are|were) the reasons?\b", re.IGNORECASE)
_REASON = re.compile(
    r"\b(?:because|due to|owing to|as a result|so that|in order to|only (?:\w+ ){0,2}(?:if|when|for|after|once)|"
    r"unless|otherwise|the reason|this is why|that is why|as long as|provided that|keep in mind|be careful|beware|"
    r"make sure)\b", re.IGNORECASE)
REASON_WEIGHT = 3.0
"""What giving a cause or a condition ("because ...", "only if ...", "keep in mind that, if ...") is worth to a
sentence's score, for a question asking why: in a manual the answer to "why does (not) X happen" is the condition
X depends on, which the sentence that merely introduces X lacks. Set by hand as FREQUENCY_WEIGHT is (the same
range)."""


def asks_how_often(question: str) -> bool:
    return _HOW_OFTEN.search(question) is not None


def states_frequency(sentence: str) -> bool:
    return _FREQUENCY.search(sentence) is not None


def asks_why(question: str) -> bool:
    return _WHY.search(question) is not None


def gives_reason(sentence: str) -> bool:
    return _REASON.search(sentence) is not None


_DEFINED_TERM = re.compile(r"\s*(?:[-*]\s+|\d+\.\s+)?([^:=.!?\n]{1,60}?)\s*(?::|=|\s[-–—]\s)\s*\S")
DEFINITION_WEIGHT = 1.0
"""What defining a term the question names is worth to a sentence's score: a glossary entry, a field or an option
described in a list ("Reload from attachment: saves the report ..."). Set by hand as UI_NAME_WEIGHT is (SQuAD has no
such lists), the middle of the range (0.5-1.5) over which the Odoo documentation questions are answered the same."""


_ANSWER_TYPE = re.compile(r"\b(?:what|which|whose|how (?:many|much))\s+(?:(?:is|was|are|were)\s+(?:the|an?)\s+)?"
                          r"((?:[A-Za-z][\w'’-]*\s*)+)", re.IGNORECASE)


def asked_for(question: str) -> set[str]:
    """The words, lower-case, right after "what", "which", "what is the" or "how many" up to the next stop word
    ("what year", "which pricing option", "which context key"): they name the kind of answer asked for, not a topic
    the answer has to name."""
    out: set[str] = set()
    for match in _ANSWER_TYPE.finditer(expanded(question)):
        for word in match.group(1).split():
            if word.lower() in STOPWORDS:
                break
            out.update(re.findall(r"[a-z]+", word.lower()))
    return out


def defines(text: str, block_start: int, start: int, q_words: set[str]) -> bool:
    """Whether the sentence at start opens a block "term: description" (or "term = ...", "term - ...") whose term
    of at most six words (or one of its comma-separated terms) the question names (q_words: the question's content
    words but the kind of answer it asks for: "which context key" is answered by a key's entry, not by the entry
    "Context keys")."""
    if text[block_start:start].strip(" -*0123456789."):
        return False  # not the block's first sentence
    match = _DEFINED_TERM.match(text, block_start)
    if match is None:
        return False
    for term in match.group(1).split(","):  # a glossary entry may name several: "external id, external identifier"
        words = set(content_words(term))
        if words and len(term.split()) <= 6 and words <= q_words:
            return True
    return False


def span_features(kind: str, text: str, start: int, end: int, candidates: Sequence[tuple[int, int, frozenset[str]]],
                  q_words: set[str]) -> np.ndarray:
    """One row per candidate span: which patterns found it (alone and crossed with the answer type the
    question asks for), how much of it repeats the question, its distance and side to the nearest
    question word of the sentence, its length, capitals, digits and place in the sentence."""
    anchors = [m.start() for m in _WORD.finditer(text, start, end) if norm(m.group()) in q_words]
    rows = []
    for a, b, found in candidates:
        words = _WORD.findall(text, a, b)
        n = max(len(words), 1)
        inside = sum(1 for w in words if norm(w) in q_words) / n
        gap, nearest = min(((len(_WORD.findall(text, min(a, x), max(a, x))), x) for x in anchors), default=(30, a))
        patterns = [1.0 if p in found else 0.0 for p in PATTERN_NAMES]
        crossed = [1.0 if k == kind and p in found else 0.0 for k in KINDS for p in PATTERN_NAMES]
        rows.append(patterns + crossed + [
            inside, min(gap, 30) / 10, math.log1p(gap), n / 5, math.log(n),
            1.0 if not text[start:a].strip() else 0.0,  # opens the sentence
            1.0 if not text[b:end].strip(" .!?\"')") else 0.0,  # closes it
            1.0 if a > nearest else 0.0,  # after the nearest question word
            1.0 if gap == 0 else 0.0,
            sum(1 for w in words if w[:1].isupper()) / n,
            1.0 if re.search(r"\d", text[a:b]) else 0.0,
            len(anchors) / 5, 1.0,
        ])
    return np.array(rows, dtype=np.float64)


def load_span_weights(path: Path = SPAN_WEIGHTS) -> np.ndarray:
    """The span scorer's weights, trained by `ipai-rag eval spans` (see eval/spans.py)."""
    return np.array(json.loads(path.read_text())["weights"], dtype=np.float64)


@dataclass(frozen=True)
class SentenceCandidate:
    """A sentence of a retrieved passage: passage index, offsets, its content words, and the offsets of the
    block that holds it (an answer never leaves its block)."""

    passage: int
    start: int
    end: int
    words: list[str]
    block: tuple[int, int] = (0, 0)

    def text(self, passages: Sequence[Passage]) -> str:
        return passages[self.passage].text[self.start:self.end]


def sentence_candidates(passages: Sequence[Passage]) -> list[SentenceCandidate]:
    """Every sentence of the passages' blocks, in order, but headings (they name a topic; they answer
    nothing), code, and blocks flagged as instructions to the assistant."""
    out = []
    for p_index, passage in enumerate(passages):
        text = passage.text
        for b_start, b_end in block_spans(text):
            block = text[b_start:b_end]
            if (is_code(block) or block in passage.headings or _HEADING.match(block)
                    or overlaps(passage.flags, b_start, b_end)):
                continue
            body = b_start + list_marker(block)
            for start, end in sentence_spans(text[body:b_end]):
                sentence = text[body + start:body + end]
                out.append(SentenceCandidate(p_index, body + start, body + end, content_words(sentence),
                                             (b_start, b_end)))
    return out


def sentence_features(question: str, passages: Sequence[Passage], candidates: Sequence[SentenceCandidate],
                      similarity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One row per candidate sentence, and each one's idf-weighted share of the question (its support).

    Columns: that share, the share of question bigrams, the retriever's confidence in the passage and its
    rank, the shares held by the whole passage and by the neighbouring sentences, how much of the sentence
    is new to the question, how tightly the question words cluster in it, its length and place, and which
    answer-like patterns (names, dates, numbers, quotes) it holds beyond the question's own words, alone
    and crossed with the kind of answer the question asks for; last, each of SIMILARITY_COLUMNS (raw, and
    against the best sentence's), zero when there is none. similarity: one row per candidate, its first
    columns in that order (a vector: the cosine alone)."""
    q_words = content_words(question)
    q_set = set(q_words)
    df = Counter(w for c in candidates for w in set(c.words))
    n = len(candidates)
    idf = {w: math.log(1 + (n + 1) / (df.get(w, 0) + 0.5)) for w in q_set}
    total = sum(idf.values()) or 1.0
    q_bigrams = set(zip(q_words, q_words[1:]))
    kind = answer_type(question)
    top = max((p.score for p in passages), default=0.0)
    passage_words = [set(content_words(p.text)) for p in passages]

    def share(words: set[str]) -> float:
        return sum(idf[w] for w in q_set if w in words) / total

    shares = [share(set(c.words)) for c in candidates]
    rows, support = [], []
    for i, c in enumerate(candidates):
        present = set(c.words)
        passage = passages[c.passage]
        text = passage.text
        sentence = c.text(passages)
        overlap = shares[i]
        positions = [j for j, w in enumerate(c.words) if w in q_set]
        spread = (positions[-1] - positions[0] + 1) / len(positions) if positions else 0.0
        before = shares[i - 1] if i > 0 and candidates[i - 1].passage == c.passage else 0.0
        after = shares[i + 1] if i + 1 < n and candidates[i + 1].passage == c.passage else 0.0
        prior = passage.score / top if top > 0 else 1.0 / passage.rank
        found = set()
        for name, pattern in PATTERNS:
            for m in pattern.finditer(sentence):
                words = {norm(w) for w in _WORD.findall(m.group())}
                if words - q_set - STOPWORDS:
                    found.add(name)
                    break
        patterns = [1.0 if p in found else 0.0 for p in SENTENCE_PATTERNS]
        crossed = [1.0 if k == kind and p in found else 0.0 for k in KINDS for p in SENTENCE_PATTERNS]
        rank = [1.0 if passage.rank == r else 0.0 for r in (1, 2, 3, 4)]
        rows.append([
            overlap, len(q_bigrams & set(zip(c.words, c.words[1:]))) / max(len(q_bigrams), 1), prior, *rank,
            share(passage_words[c.passage]), before, after,
            sum(1 for w in c.words if w not in q_set) / max(len(c.words), 1), min(spread, 5.0) / 5,
            len(present & q_set) / max(len(q_set), 1), math.log1p(len(c.words)),
            1.0 if c.start == 0 or not text[:c.start].strip() else 0.0,
            *patterns, *crossed, 1.0,
        ])
        support.append(overlap)
    x = np.array(rows, dtype=np.float64)
    similar = np.zeros((len(rows), 2 * len(SIMILARITY_COLUMNS)))
    if similarity is not None and len(rows):
        given = similarity.reshape(len(rows), -1)
        similar[:, 0:2 * given.shape[1]:2], similar[:, 1:2 * given.shape[1]:2] = given, given - given.max(axis=0)
    return np.hstack([x, similar]), np.array(support)


SENTENCE_FEATURES = 15 + len(SENTENCE_PATTERNS) * (1 + len(KINDS)) + 1 + 2 * len(SIMILARITY_COLUMNS)


def heuristic_sentence_weights() -> np.ndarray:
    """Without trained weights: overlap + 0.25 x bigrams + 0.5 x the retriever's confidence."""
    w = np.zeros(SENTENCE_FEATURES)
    w[0], w[1], w[2] = 1.0, 0.25, 0.5
    return w


@dataclass(frozen=True)
class SentenceWeights:
    """The sentence scorer's weights, trained by `ipai-rag eval spans`: with the similarities of the
    embedding model they were trained with (all of SIMILARITY_COLUMNS), and lexical ones trained without
    any, for other embedders and with the similarity off."""

    similar: np.ndarray
    lexical: np.ndarray
    model: str | None


def load_sentence_weights(path: Path = SENTENCE_WEIGHTS) -> SentenceWeights:
    """The shipped weights; the heuristic (no model) if there are none."""
    if not path.exists():
        return SentenceWeights(heuristic_sentence_weights(), heuristic_sentence_weights(), None)
    data = json.loads(path.read_text())
    return SentenceWeights(np.array(data["weights"], dtype=np.float64),
                           np.array(data["lexical_weights"], dtype=np.float64),
                           data["trained_on"].get("embedding_model"))


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk offered to the answerer, in retrieval order: its headings (title and section path:
    a block equal to one is a heading) and its spans flagged as instructions."""

    text: str
    rank: int
    score: float = 0.0
    headings: frozenset[str] = frozenset()
    flags: tuple[tuple[int, int], ...] = ()
    topic: str = ""
    """The nearest heading over the passage (its section, else its document's title)."""


MAX_ANSWER_SENTENCES = 3


def answer_sentences(candidates: Sequence[SentenceCandidate], best: int,
                     passages: Sequence[Passage]) -> tuple[int, int]:
    """The first and last candidate of the answer around candidates[best]: its whole block when that holds at
    most MAX_ANSWER_SENTENCES sentences, else the chosen sentence and the ones after it (what a sentence sets
    up usually follows it), never leaving the block; sentences after the chosen one that end on a colon are left
    off the end (they introduce a list or code the answer cannot include)."""
    c = candidates[best]
    block = [i for i in range(len(candidates))
             if candidates[i].passage == c.passage and candidates[i].block == c.block]
    if len(block) <= MAX_ANSWER_SENTENCES:
        first, last = block[0], block[-1]
    else:
        start = min(block.index(best), len(block) - MAX_ANSWER_SENTENCES)
        first, last = block[start], block[start + MAX_ANSWER_SENTENCES - 1]
    while last > best and candidates[last].text(passages).rstrip().endswith(":"):
        last -= 1
    return first, last


def answer_text(candidates: Sequence[SentenceCandidate], best: int, passages: Sequence[Passage]) -> str:
    """What a person reads when candidates[best] is chosen: its answer_sentences."""
    first, last = answer_sentences(candidates, best, passages)
    return passages[candidates[best].passage].text[candidates[first].start:candidates[last].end]


MIN_COPY_WORDS = 5
"""A sentence of fewer content words is no copy of a paragraph ("Click on Save.")."""


def copies(question: str, passages: Sequence[Passage], candidates: Sequence[SentenceCandidate], best: int) -> list[int]:
    """The other copies of the chosen sentence (the same content words: punctuation may differ), in passages whose
    headings (title and sections) name more of the question's words than the chosen one's do, the most first.
    Manuals repeat a paragraph under several topics ("import a related record by its ID" under data import and
    under product import): the copy to cite is the one under the topic the question is about."""
    chosen = candidates[best]
    if len(chosen.words) < MIN_COPY_WORDS:
        return []
    q_words = set(content_words(question))

    def named(i: int) -> int:
        return len(q_words & set(content_words(" ".join(passages[candidates[i].passage].headings))))

    others = [i for i, c in enumerate(candidates)
              if c.passage != chosen.passage and c.words == chosen.words and named(i) > named(best)]
    return sorted(others, key=lambda i: (-named(i), candidates[i].passage))


@dataclass(frozen=True)
class Extraction:
    """The chosen sentences (offsets into their passage) and the short answer inside them, if any."""

    passage: int
    sentence_start: int
    sentence_end: int
    short: str
    short_start: int
    short_end: int
    support: float


class ExtractiveAnswerer:
    """Ranks the retrieved sentences with the sentence scorer, then extracts a typed span.

    min_support: the share of the question's idf weight that some retrieved sentence must hold, else
    the answer is declined (after retrieval found something relevant at all). 0.1 is the best of
    0.05-0.2 on SQuAD's training articles; the not-covered tests still decline. (It was the chosen
    sentence's share until that sentence came from a scorer that also weighs meaning: then it declined
    1.4% of SQuAD's questions, most of them answerable.)"""

    def __init__(self, min_support: float = 0.1, span_weights: np.ndarray | None = None,
                 sentence_weights: SentenceWeights | None = None) -> None:
        """sentence_weights.model: the embedding model whose question-sentence similarities the similar
        weights were trained with; without those similarities the lexical weights choose."""
        self.min_support = min_support
        self.span_weights = load_span_weights() if span_weights is None else span_weights
        self.sentence_weights = load_sentence_weights() if sentence_weights is None else sentence_weights

    @property
    def similarity_model(self) -> str | None:
        return self.sentence_weights.model

    def extract(self, question: str, passages: Sequence[Passage], similarity: np.ndarray | None = None,
                candidates: Sequence[SentenceCandidate] | None = None) -> Extraction | None:
        """The best-ranked sentence whose answer (answer_sentences) does not end on a colon: text that
        introduces a list or code the answer cannot include answers nothing itself."""
        candidates = sentence_candidates(passages) if candidates is None else candidates
        ranked = self.ranking(question, passages, similarity, candidates)
        if ranked is None:
            return None
        order, overlap = ranked

        def leads_on(i: int) -> bool:
            return answer_text(candidates, i, passages).rstrip().endswith(":")

        best = next((i for i in order if not leads_on(i)), order[0])
        best = next((i for i in copies(question, passages, candidates, best) if not leads_on(i)), best)
        first, last = answer_sentences(candidates, best, passages)
        c = candidates[best]
        text = passages[c.passage].text
        short = self.span(question, text, c.start, c.end, set(content_words(question)))
        s_start, s_end = short if short else (c.start, c.end)
        return Extraction(c.passage, candidates[first].start, candidates[last].end, text[s_start:s_end], s_start,
                          s_end, overlap)

    def sentence(self, question: str, passages: Sequence[Passage], similarity: np.ndarray | None = None,
                 candidates: Sequence[SentenceCandidate] | None = None) -> tuple[int, float] | None:
        """The index of the candidate the scorer ranks first, and the largest share of the question any
        candidate holds. candidates: sentence_candidates(passages), if the caller has them; similarity: the
        question's similarities to each (SIMILARITY_COLUMNS), if any."""
        ranked = self.ranking(question, passages, similarity, candidates)
        return None if ranked is None else (ranked[0][0], ranked[1])

    def ranking(self, question: str, passages: Sequence[Passage], similarity: np.ndarray | None = None,
                candidates: Sequence[SentenceCandidate] | None = None) -> tuple[list[int], float] | None:
        """The candidates' indexes, best first, and the largest share of the question any candidate holds."""
        if not content_words(question) or not passages:
            return None
        candidates = sentence_candidates(passages) if candidates is None else candidates
        if not candidates:
            return None
        features, support = sentence_features(question, passages, candidates, similarity)
        weights = self.sentence_weights.lexical if similarity is None else self.sentence_weights.similar
        scores = features @ weights
        q_words = set(content_words(question))
        if asks_how_to(question):
            shown = [answer_text(candidates, i, passages) for i in range(len(candidates))]
            scores += UI_NAME_WEIGHT * np.array([names_ui(text, q_words) for text in shown])
            if asks_where(question):
                scores += MENU_PATH_WEIGHT * np.array([names_menu_path(text) for text in shown])
        if asks_how_often(question):
            scores += FREQUENCY_WEIGHT * np.array([states_frequency(c.text(passages)) for c in candidates])
        if asks_why(question):
            scores += REASON_WEIGHT * np.array([gives_reason(c.text(passages)) for c in candidates])
        named = q_words - {norm(w) for w in asked_for(question)}
        scores += DEFINITION_WEIGHT * np.array([defines(passages[c.passage].text, c.block[0], c.start, named)
                                                for c in candidates])
        return [int(i) for i in np.argsort(-scores, kind="stable")], float(support.max())

    def span(self, question: str, text: str, start: int, end: int, q_words: set[str]) -> tuple[int, int] | None:
        """The short answer's offsets inside text[start:end]: the candidate span the learned scorer ranks
        first (None for a procedure or a reason, where the sentence itself is the answer)."""
        kind = answer_type(question)
        if kind == "explain":
            return None
        candidates = self.candidates(text, start, end, q_words)
        if not candidates:
            return None
        features = span_features(kind, text, start, end, candidates, q_words)
        best = int(np.argmax(features @ self.span_weights))
        return candidates[best][0], candidates[best][1]

    def candidates(self, text: str, start: int, end: int, q_words: set[str]) -> list[tuple[int, int, frozenset[str]]]:
        """Spans of the sentence that could answer: quoted text, proper names, dates, numbers and
        noun-phrase-like runs, trimmed, each with the kinds of pattern that found it."""
        sentence = text[start:end]
        found: dict[tuple[int, int], set[str]] = {}

        def add(a: int, b: int, pattern: str) -> None:
            piece = text[a:b].strip(" ,;:")
            if piece.endswith(".") and not re.search(r"\b[A-Z]\.$", piece):  # keep "U.S.", drop a full stop
                piece = piece[:-1]
            if not piece:
                return
            a = a + text[a:b].find(piece)
            words = [norm(w) for w in _WORD.findall(piece)]
            if not words or all(w in q_words or w in STOPWORDS for w in words):
                return
            found.setdefault((a, a + len(piece)), set()).add(pattern)

        for name, pattern in PATTERNS:
            group = 1 if pattern is _QUOTED else 0
            for m in pattern.finditer(sentence):
                add(m.start(group) + start, m.end(group) + start, name)
        for a, b in self._phrases(text, start, end, q_words):
            add(a, b, "phrase")
        return [(a, b, frozenset(kinds)) for (a, b), kinds in sorted(found.items())]

    @staticmethod
    def _phrases(text: str, start: int, end: int, q_words: set[str]) -> list[tuple[int, int]]:
        """Runs of content words that are not question words (noun-phrase-like), at most 5 words."""
        out = []
        run: list[tuple[int, int]] = []
        for m in _WORD.finditer(text, start, end):
            word = m.group()
            if word.lower() in STOPWORDS and word.lower() not in ("of",) or norm(word) in q_words:
                if run:
                    out.append((run[0][0], run[-1][1]))
                run = []
                continue
            run.append((m.start(), m.end()))
            if len(run) == 5:
                out.append((run[0][0], run[-1][1]))
                run = []
        if run:
            out.append((run[0][0], run[-1][1]))
        return out
