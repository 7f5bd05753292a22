"""Loaders: Markdown, reStructuredText, plain text, HTML, PDF and BEIR JSON Lines -> LoadedDocument."""
from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import BadRequest, InvalidInput, UnsupportedMediaType
from ingest.chunking import Section


@dataclass
class LoadedDocument:
    """A document as a loader read it: its text and the heading sections that cover it."""

    external_id: str
    title: str
    text: str
    sections: list[Section] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)
    provenance: dict[str, object] = field(default_factory=dict)
    language: str | None = None
    source: str | None = None


def _sections_from_headings(text: str, headings: list[tuple[int, int, str]], title: str) -> list[Section]:
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


_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)


def parse_markdown(text: str, fallback_title: str) -> tuple[str, list[Section]]:
    """ATX headings outside fenced code blocks define the sections; the first H1 is the title."""
    fenced: list[tuple[int, int]] = []
    marks = [m.start() for m in _FENCE.finditer(text)]
    for a, b in zip(marks[::2], marks[1::2] + [len(text)] * (len(marks) % 2)):
        fenced.append((a, b))
    headings = []
    for m in _ATX.finditer(text):
        if any(a <= m.start() < b for a, b in fenced):
            continue
        headings.append((m.start(), len(m.group(1)), m.group(2).strip()))
    title = next((h for _, level, h in headings if level == 1), fallback_title)
    return title, _sections_from_headings(text, headings, title)


_RST_ADORNMENT = re.compile(r"^([=\-`:'\"~^_*+#<>.])\1{2,}[ \t]*$")


def parse_rst(text: str, fallback_title: str) -> tuple[str, list[Section]]:
    """Section titles underlined (optionally overlined) with punctuation; levels by first appearance."""
    lines = text.splitlines(keepends=True)
    offsets = []
    position = 0
    for line in lines:
        offsets.append(position)
        position += len(line)
    styles: list[tuple[str, bool]] = []
    headings = []
    i = 0
    while i < len(lines) - 1:
        line = lines[i].rstrip("\r\n")
        under = lines[i + 1].rstrip("\r\n")
        overlined = False
        start = i
        if _RST_ADORNMENT.match(line) and i + 2 < len(lines) and _RST_ADORNMENT.match(lines[i + 2].rstrip("\r\n")):
            overlined, title_line, under = True, lines[i + 1].rstrip("\r\n"), lines[i + 2].rstrip("\r\n")
        else:
            title_line = line
        if (
            title_line.strip()
            and not _RST_ADORNMENT.match(title_line)
            and _RST_ADORNMENT.match(under)
            and len(under.rstrip()) >= len(title_line.rstrip())
            and not title_line.startswith((" ", "\t", ".."))
        ):
            style = (under[0], overlined)
            if style not in styles:
                styles.append(style)
            headings.append((offsets[start], styles.index(style) + 1, title_line.strip()))
            i += 3 if overlined else 2
            continue
        i += 1
    title = headings[0][2] if headings else fallback_title
    return title, _sections_from_headings(text, headings, title)


def parse_html(raw: str, fallback_title: str) -> tuple[str, str, list[Section]]:
    """Visible text (scripts, styles dropped) with h1-h6 headings as sections."""
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    tree = HTMLParser(raw)
    for node in tree.css("script, style, noscript, template, head"):
        node.decompose()
    title_node = HTMLParser(raw).css_first("title")
    title = title_node.text(strip=True) if title_node else ""
    blocks: list[tuple[int | None, str]] = []
    body = tree.body or tree.root
    if body is None:
        return fallback_title, "", []
    selector = "h1, h2, h3, h4, h5, h6, p, li, pre, td, th, dt, dd, blockquote, figcaption"
    for node in body.css(selector):
        if node.tag not in {"h1", "h2", "h3", "h4", "h5", "h6"} and any(
            parent.tag in {"p", "li", "td", "th", "dd", "blockquote"} for parent in _parents(node)
        ):
            continue
        content = " ".join(node.text(separator=" ").split())
        if content:
            level = int(node.tag[1]) if node.tag in {"h1", "h2", "h3", "h4", "h5", "h6"} else None
            blocks.append((level, content))
    if not blocks:
        content = " ".join(body.text(separator=" ").split())
        blocks = [(None, content)] if content else []
    parts, headings, position = [], [], 0
    for level, content in blocks:
        if level is not None:
            headings.append((position, level, content))
        parts.append(content)
        position += len(content) + 2
    text = "\n\n".join(parts)
    title = title or next((h for _, lvl, h in headings if lvl == 1), fallback_title)
    return title, text, _sections_from_headings(text, headings, title)


def _parents(node: object) -> Iterator[object]:
    parent = node.parent  # type: ignore[attr-defined]
    while parent is not None:
        yield parent
        parent = parent.parent


def parse_pdf(data: bytes, fallback_title: str) -> tuple[str, str, list[Section]]:
    """Text per page (pypdf); each page is a section named 'Page N'."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError) as exc:
        raise InvalidInput(f"the PDF could not be read: {exc}") from exc
    parts, sections, position = [], [], 0
    title = meta_title.strip() or fallback_title
    for number, page in enumerate(pages, 1):
        if not page:
            continue
        sections.append(Section((title, f"Page {number}"), position, position + len(page)))
        parts.append(page)
        position += len(page) + 2
    return title, "\n\n".join(parts), sections


SUFFIXES = {
    ".md": "markdown", ".markdown": "markdown", ".rst": "rst", ".txt": "text", ".text": "text",
    ".html": "html", ".htm": "html", ".pdf": "pdf", ".jsonl": "jsonl", ".ndjson": "jsonl",
}
CONTENT_TYPES = {
    "text/markdown": "markdown", "text/x-markdown": "markdown", "text/x-rst": "rst", "text/plain": "text",
    "text/html": "html", "application/pdf": "pdf", "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
}


def kind_of(name: str, content_type: str | None = None) -> str:
    """The loader kind for a file name (a trailing .gz is looked through) or content type."""
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    suffix = Path(lower).suffix
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if content_type and content_type.split(";")[0].strip() in CONTENT_TYPES:
        return CONTENT_TYPES[content_type.split(";")[0].strip()]
    raise UnsupportedMediaType(
        f"unsupported file type {suffix or content_type or name!r}; supported: {', '.join(sorted(SUFFIXES))} "
        "(optionally .gz)"
    )


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (a BOM is dropped); anything else is a clear 400."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{name} is not valid UTF-8 (byte {exc.start}): re-encode it as UTF-8") from exc


def load_bytes(data: bytes, name: str, content_type: str | None = None) -> Iterator[LoadedDocument]:
    """Documents from one file's bytes; .gz is decompressed transparently."""
    kind = kind_of(name, content_type)
    if name.lower().endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise BadRequest(f"{name} is not a valid gzip file: {exc}") from exc
    stem = Path(name[:-3] if name.lower().endswith(".gz") else name).stem
    provenance = {"file": name, "loader": kind}
    if kind == "pdf":
        title, text, sections = parse_pdf(data, stem)
        yield LoadedDocument(name, title, text, sections, provenance=provenance)
        return
    text = decode_text(data, name)
    if kind == "jsonl":
        yield from parse_jsonl(text, name)
        return
    doc = parse_text(text, kind, "", name, fallback_title=stem)
    doc.provenance = provenance
    yield doc


def parse_text(text: str, kind: str, title: str, external_id: str, fallback_title: str = "") -> LoadedDocument:
    """A document from text in one of the text formats; an explicit title wins over the parsed one."""
    if kind == "markdown":
        parsed, sections = parse_markdown(text, title or fallback_title)
    elif kind == "rst":
        parsed, sections = parse_rst(text, title or fallback_title)
    elif kind == "html":
        parsed, text, sections = parse_html(text, title or fallback_title)
    else:
        parsed = title or fallback_title
        sections = [Section((parsed,) if parsed else (), 0, len(text))]
    return LoadedDocument(external_id, title or parsed, text, sections)


def parse_jsonl(text: str, name: str) -> Iterator[LoadedDocument]:
    """BEIR corpus lines {_id, title, text}, or the service's own export lines (external_id, content ...)."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"{name} line {number} is not valid JSON: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise InvalidInput(f"{name} line {number}: expected a JSON object")
        if "content" in row and "external_id" in row:  # an ipai-rag export line
            yield LoadedDocument(
                external_id=str(row["external_id"]), title=str(row.get("title") or ""), text=str(row["content"]),
                metadata=dict(row.get("metadata") or {}), provenance=dict(row.get("provenance") or {}),
                language=row.get("language"), source=row.get("source"),
            )
            continue
        if "_id" not in row or "text" not in row:
            raise InvalidInput(f"{name} line {number}: a BEIR corpus line needs '_id' and 'text'")
        title = str(row.get("title") or "")
        yield LoadedDocument(
            external_id=str(row["_id"]), title=title, text=str(row["text"]),
            metadata=dict(row.get("metadata") or {}), provenance={"file": name, "line": number, "loader": "jsonl"},
        )


def iter_paths(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """(root, file) for every supported file under the given files and folders, recursively, sorted."""
    for root in paths:
        if root.is_file():
            yield root.parent, root
            continue
        if not root.exists():
            raise InvalidInput(f"{root} does not exist")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            try:
                kind_of(path.name)
            except UnsupportedMediaType:
                continue
            yield root, path


def load_path(root: Path, path: Path) -> Iterator[LoadedDocument]:
    """Documents from a file; external ids are paths relative to the ingest root."""
    relative = path.relative_to(root).as_posix() if path != root else path.name
    resolved = str(path.resolve())  # once per file: a JSON Lines file holds thousands of documents
    for document in load_bytes(path.read_bytes(), relative):
        document.provenance.setdefault("path", resolved)
        yield document
