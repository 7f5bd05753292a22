"""The one document model every loader produces: blocks of what a reader sees, joined into normalised text."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ingest.chunking import Section
from ingest.text import BLOCK_SEPARATOR, CODE_INDENT, inline

BLOCK_KINDS = ("heading", "paragraph", "item", "row", "code", "admonition")


@dataclass(frozen=True)
class Block:
    """One unit of a document as a reader sees it: a heading (with its level), a paragraph, a list item, a
    table row ("header: value; ..."), code, or an admonition rendered as a labelled paragraph."""

    kind: str
    text: str
    level: int = 0


@dataclass
class LoadedDocument:
    """A document as a loader read it: its normalised text and the heading sections that cover it."""

    external_id: str
    title: str
    text: str
    sections: list[Section] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)
    provenance: dict[str, object] = field(default_factory=dict)
    language: str | None = None
    source: str | None = None


def clean_code(text: str) -> str:
    """Code keeps its lines (their common indentation replaced by CODE_INDENT), without trailing blanks and
    without empty lines (a blank line ends a block)."""
    lines = [line.rstrip().expandtabs(4) for line in text.strip("\n").splitlines() if line.strip()]
    common = min((len(line) - len(line.lstrip()) for line in lines), default=0)
    return "\n".join(CODE_INDENT + line[common:] for line in lines)


def assemble(blocks: Iterable[Block], fallback_title: str) -> tuple[str, str, list[Section]]:
    """(title, text, sections) from blocks: the text is the blocks joined by blank lines, each heading opens a
    section that runs to the next one, and the first top-level heading is the title."""
    parts: list[str] = []
    headings: list[tuple[int, int, str]] = []
    position = 0
    for block in blocks:
        text = clean_code(block.text) if block.kind == "code" else inline(block.text)
        if not text:
            continue
        if parts:
            position += len(BLOCK_SEPARATOR)
        if block.kind == "heading":
            headings.append((position, max(block.level, 1), text))
        parts.append(text)
        position += len(text)
    text = BLOCK_SEPARATOR.join(parts)
    top = min((level for _, level, _ in headings), default=0)
    title = next((h for _, level, h in headings if level == top), "") or fallback_title
    return title, text, sections_from_headings(text, headings, title)


def sections_from_headings(text: str, headings: list[tuple[int, int, str]], title: str) -> list[Section]:
    """Sections from (offset, level, heading) triples, each running to the next heading."""
    sections = []
    stack: list[tuple[int, str]] = []
    if not headings or headings[0][0] > 0:
        first = headings[0][0] if headings else len(text)
        sections.append(Section((title,) if title else (), 0, first))
    for i, (offset, level, name) in enumerate(headings):
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, name))
        end = headings[i + 1][0] if i + 1 < len(headings) else len(text)
        sections.append(Section(tuple(n for _, n in stack), offset, end))
    return sections


def table_rows(rows: list[list[str]], header: list[str] | None) -> list[Block]:
    """A table as one block per row: "header: value; header: value" (cells alone where a header is empty)."""
    out = []
    for row in rows:
        cells = [inline(c) for c in row]
        if not any(cells):
            continue
        if header:
            pairs = [f"{inline(h)}: {c}" if inline(h) else c for h, c in zip(header, cells) if c]
            pairs += [c for c in cells[len(header):] if c]
        else:
            pairs = [c for c in cells if c]
        out.append(Block("row", "; ".join(pairs)))
    return out


def headed_table(rows: list[list[str]]) -> list[Block]:
    """A table whose first row is its header (Word, PowerPoint, OpenDocument); a table of one row is cells alone."""
    return table_rows(rows[1:], rows[0]) if len(rows) > 1 else table_rows(rows, None)


def speaker_notes(notes: list[str]) -> Iterator[Block]:
    """A slide's speaker notes after its shapes: paragraphs, the first labelled."""
    for i, text in enumerate(notes):
        yield Block("paragraph", f"Speaker notes: {text}" if i == 0 else text)
