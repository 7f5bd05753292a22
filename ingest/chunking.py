"""Pure: document text and its sections -> token-bounded chunks with heading paths and exact offsets."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property

import tiktoken

from ingest.instructions import instruction_spans
from ingest.sentences import sentence_spans
from ingest.tokens import encoding


@dataclass(frozen=True)
class Section:
    """A span of the document text under one heading path."""

    path: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A contiguous span of the document text: content == text[char_start:char_end]."""

    ordinal: int
    content: str
    char_start: int
    char_end: int
    token_count: int
    section_path: str
    content_hash: str
    flags: tuple[tuple[int, int], ...] = ()
    """Spans of content (offsets into it) that instruct the assistant or the reader (ingest/instructions.py)."""


def text_hash(text: str) -> str:
    """The content hash used for documents and chunks (sha256, hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LINE_BREAK = re.compile(r"\n")
_WORD = re.compile(r"\S+")


def _spans(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split text[start:end] at pattern matches into trimmed, non-empty spans."""
    out = []
    position = start
    for match in pattern.finditer(text, start, end):
        out.append((position, match.start()))
        position = match.end()
    out.append((position, end))
    trimmed = []
    for a, b in out:
        while a < b and text[a] in "\n\r":  # a code block's indentation stays: it marks the block as code
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            trimmed.append((a, b))
    return trimmed


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The sentences of one block (a loader's block holds no line break), or the lines of code."""
    if "\n" in text[start:end]:
        return _spans(_LINE_BREAK, text, start, end)
    return [(start + a, start + b) for a, b in sentence_spans(text[start:end])]


def merge_bare_headings(text: str, sections: list[Section]) -> list[Section]:
    """A section that holds only its heading (a heading followed at once by a sub-heading) joins the next
    section, so that no chunk is a heading alone; the next section's path still names it."""
    out: list[Section] = []
    carried: int | None = None
    for i, section in enumerate(sections):
        start = section.start if carried is None else carried
        body = text[section.start:section.end].strip()
        if section.path and body == section.path[-1] and i + 1 < len(sections):
            carried = start
            continue
        carried = None
        out.append(Section(section.path, start, section.end))
    return out


class Chunker:
    """Cuts at headings, then paragraphs, then sentences, then words; never inside a word."""

    def __init__(self, size: int = 512, overlap: int = 64) -> None:
        if size < 16:
            raise ValueError("chunk size must be at least 16 tokens")
        if not 0 <= overlap < size:
            raise ValueError("chunk overlap must be >= 0 and smaller than the chunk size")
        self.size = size
        self.overlap = overlap

    @cached_property
    def _enc(self) -> tiktoken.Encoding:
        """The encoding, loaded when text is first chunked (~0.5 s): a command that never chunks does not wait."""
        return encoding()

    def _tokens(self, text: str) -> int:
        return len(self._enc.encode_ordinary(text))

    def _units(self, text: str, start: int, end: int) -> list[tuple[int, int, int, bool]]:
        """(start, end, tokens, starts_paragraph) units no larger than the chunk size."""
        units = []
        for p_start, p_end in _spans(_PARAGRAPH_BREAK, text, start, end):
            n = self._tokens(text[p_start:p_end])
            if n <= self.size:
                units.append((p_start, p_end, n, True))
                continue
            first = True
            for s_start, s_end in _sentences(text, p_start, p_end):
                n = self._tokens(text[s_start:s_end])
                if n <= self.size:
                    units.append((s_start, s_end, n, first))
                else:
                    for w_start, w_end, w_n in self._word_windows(text, s_start, s_end):
                        units.append((w_start, w_end, w_n, first))
                        first = False
                first = False
        return units

    def _word_windows(self, text: str, start: int, end: int) -> list[tuple[int, int, int]]:
        """Runs of whole words of at most `size` tokens (for sentences longer than a chunk)."""
        windows = []
        w_start = w_end = None
        count = 0
        for match in _WORD.finditer(text, start, end):
            n = self._tokens(" " + match.group())
            if w_start is not None and count + n > self.size:
                windows.append((w_start, w_end, count))
                w_start, count = None, 0
            if w_start is None:
                w_start = match.start()
                n = self._tokens(match.group())
                if n > self.size:  # a single "word" longer than a chunk: cut it by tokens
                    windows.extend(self._token_cut(text, match.start(), match.end()))
                    w_start, count = None, 0
                    continue
            w_end = match.end()
            count += n
        if w_start is not None:
            windows.append((w_start, w_end, count))
        return windows

    def _token_cut(self, text: str, start: int, end: int) -> list[tuple[int, int, int]]:
        tokens = self._enc.encode_ordinary(text[start:end])
        out = []
        position = start
        for i in range(0, len(tokens), self.size):
            piece = self._enc.decode(tokens[i : i + self.size])
            piece_end = min(end, position + len(piece))
            out.append((position, piece_end, len(tokens[i : i + self.size])))
            position = piece_end
        return out

    def _pack(self, text: str, units: list[tuple[int, int, int, bool]]) -> list[tuple[int, int, int]]:
        """Greedy packing of units into spans of at most `size` tokens, with unit-level overlap."""
        spans: list[tuple[int, int, int]] = []
        i = 0
        while i < len(units):
            j = i
            total = 0
            while j < len(units) and (j == i or total + units[j][2] <= self.size):
                total += units[j][2]
                j += 1
            # The joined span can count a few tokens more than its parts: shrink until it fits.
            while True:
                start, end = units[i][0], units[j - 1][1]
                exact = self._tokens(text[start:end])
                if exact <= self.size or j - 1 == i:
                    break
                j -= 1
            spans.append((start, end, exact))
            if j >= len(units):
                break
            # Overlap: restart at the trailing units of this chunk that fit in `overlap` tokens.
            k = j
            carried = 0
            while (k - 1 > i and carried + units[k - 1][2] <= self.overlap
                   and carried + units[k - 1][2] + units[j][2] <= self.size):
                k -= 1
                carried += units[k][2]
            i = k
        return spans

    def chunk(self, text: str, sections: list[Section] | None = None, title: str = "") -> list[Chunk]:
        """Chunks covering every non-blank part of text, in document order."""
        sections = merge_bare_headings(text, sections) if sections else [Section((), 0, len(text))]
        chunks: list[Chunk] = []
        for section in sections:
            start, end = section.start, section.end
            body = text[start:end]
            if not body.strip():
                continue
            stripped_start = start + (len(body) - len(body.lstrip("\n\r")))
            stripped_end = end - (len(body) - len(body.rstrip()))
            n = self._tokens(text[stripped_start:stripped_end])
            if n <= self.size:
                spans = [(stripped_start, stripped_end, n)]
            else:
                spans = self._pack(text, self._units(text, start, end))
            path = " > ".join(section.path)
            for s, e, count in spans:
                content = text[s:e]
                chunks.append(Chunk(len(chunks), content, s, e, count, path, text_hash(content),
                                    instruction_spans(content)))
        return chunks
