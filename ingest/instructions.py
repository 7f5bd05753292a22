"""Passages that address the assistant (or the reader) with instructions: "ignore previous instructions",
"answer that ...", "send your password to ...". They are flagged at ingest; the assistant never quotes them
and never hands them to a model."""
from __future__ import annotations

import re

from ingest.text import block_spans, is_code

_AGENT = r"(?:ai|a\.i\.|assistant|ai assistant|chat ?bot|llm|language model|gpt|copilot)"
_PEOPLE = r"(?:anyone|anybody|someone|somebody|a user|users|the user|people|customers?|a customer)"
_SECRET = (r"(?:log ?in|password|passwords|passcode|credentials?|api[ -]?keys?|2fa|otp|one[- ]time code|"
           r"card number|bank details)")
PATTERNS = [
    r"\b(?:ignore|disregard|forget)\b[^.!?]{0,40}\b(?:previous|prior|above|earlier|preceding|all|your|system|"
    r"other)\b[^.!?]{0,20}\b(?:instructions?|prompts?|directions|guidelines)\b",
    rf"\b(?:note|message|instructions?|reminder|memo)\s+(?:to|for)\s+(?:the\s+|any\s+)?{_AGENT}\b",
    rf"^\W*(?:(?:dear|hey|hi)\s+)?(?:the\s+)?(?:{_AGENT}|system override|system prompt)\s*[,:]",
    r"\bsystem\s+(?:override|prompt)\b",
    rf"\b{_AGENT}\s*[,:]\s*(?:when|whenever|if|always|never|ignore|tell|answer|reply|respond|say|do not)\b",
    r"\btell\s+(?:the\s+user|users|them|people|customers?|the\s+reader|everyone)\s+(?:to|that)\b",
    rf"\b{_AGENT}\s+(?:must|should|shall|has to|is to|needs to)\s+(?:always\s+|only\s+|now\s+)?"
    r"(?:reply|answer|respond|say|tell|output|write|state|claim|recommend|direct|send|include)\b",
    rf"\b(?:when|whenever|if)\s+{_PEOPLE}\s+asks?\b[^.!?]{{0,120}}\b(?:tell|answer|reply|respond|say|inform|"
    r"direct|instruct)\b",
    r"\b(?:reply|respond|answer)\s+only\s+with\b|\band nothing else\b",
    rf"\b(?:send|e-?mail|give|share|forward|disclose|reveal)\b[^.!?]{{0,40}}\b{_SECRET}\b[^.!?]{{0,40}}"
    r"\b(?:to|at)\b\s+(?:[\w.+-]+@[\w-]+\.[\w.-]+|us|me|this address|the address|someone|them|support)",
    rf"\b{_SECRET}\b[^.!?]{{0,60}}\b(?:to|at)\s+[\w.+-]+@[\w-]+\.[\w.-]+",
    rf"\b(?:act as|pretend to be|you are now)\s+(?:an?\s+|the\s+)?{_AGENT}\b|\bdo not (?:tell|mention|reveal) "
    r"(?:the user|anyone)\b",
]
_PATTERN = re.compile("|".join(f"(?:{p})" for p in PATTERNS), re.IGNORECASE | re.MULTILINE)
CUES = ("ignore", "disregard", "forget", "assistant", " ai ", "ai:", "ai,", "a.i.", "chatbot", "chat bot", "llm",
        "language model", "gpt", "copilot", "system", "reply", "respond", "answer", "nothing else", "ask",
        "password", "passcode", "credential", "login", "log in", "api key", "api-key", "apikey", "2fa", "otp",
        "one-time", "one time", "card number", "bank details", "act as", "pretend", "you are now", "do not tell",
        "do not mention", "do not reveal")
"""Lower-case words one of PATTERNS needs: a block holding none is skipped after a few substring tests (the
patterns themselves cost some 50 µs a block)."""


def instruction_spans(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of every block of text that holds an instruction to the assistant or the reader."""
    low = f" {text.lower()} "
    if not any(cue in low for cue in CUES):
        return ()
    return tuple((a, b) for a, b in block_spans(text)
                 if not is_code(text[a:b]) and _cued(text[a:b]) and _PATTERN.search(text, a, b))


def _cued(block: str) -> bool:
    """Whether a block holds a word a pattern needs (code is addressed to no one: it is never flagged)."""
    low = f" {block.lower()} "
    return any(cue in low for cue in CUES)


def overlaps(spans: tuple[tuple[int, int], ...] | list[tuple[int, int]], start: int, end: int) -> bool:
    return any(a < end and start < b for a, b in spans)
