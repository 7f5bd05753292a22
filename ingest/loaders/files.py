"""Which loader reads a file, and the loaders' entry points: bytes or text in, LoadedDocuments out."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import charset_normalizer

from sql.errors import BadRequest, InvalidInput, IpaiError, UnsupportedMediaType
from sql.values import MAX_JSON_DEPTH
from ingest.chunking import Section
from ingest.loaders.document import Block, LoadedDocument, assemble
from ingest.loaders.html import parse_html
from ingest.loaders.limits import DEFAULT_MAX_DECOMPRESSED, check_markup, gunzip
from ingest.loaders.markdown import parse_markdown
from ingest.loaders.office import parse_csv, parse_docx, parse_pptx, parse_xlsx
from ingest.loaders.opendocument import MEDIA_TYPES as OPENDOCUMENT_TYPES, parse_opendocument
from ingest.loaders.pdf import parse_pdf
from ingest.loaders.rst import parse_rst


_LIST_LINE = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")


def text_blocks(text: str) -> Iterator[Block]:
    """Plain text: paragraphs split at blank lines, hard-wrapped lines joined, a line that starts a list item
    starts a block of its own."""
    for paragraph in re.split(r"\n[ \t]*\n", text):
        runs: list[list[str]] = [[]]
        for line in paragraph.splitlines():
            if _LIST_LINE.match(line) and runs[-1]:
                runs.append([])
            runs[-1].append(line)
        for run in filter(None, runs):
            yield Block("item" if _LIST_LINE.match(run[0]) else "paragraph", " ".join(run))


SUFFIXES = {
    ".md": "markdown", ".markdown": "markdown", ".rst": "rst", ".txt": "text", ".text": "text",
    ".html": "html", ".htm": "html", ".pdf": "pdf", ".jsonl": "jsonl", ".ndjson": "jsonl", ".docx": "docx",
    ".xlsx": "xlsx", ".pptx": "pptx", ".csv": "csv", ".odt": "odt", ".ods": "ods", ".odp": "odp",
}
CONTENT_TYPES = {
    "text/markdown": "markdown", "text/x-markdown": "markdown", "text/x-rst": "rst", "text/plain": "text",
    "text/html": "html", "application/pdf": "pdf", "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl", "text/csv": "csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    **OPENDOCUMENT_TYPES,
}
BINARY_KINDS = ("pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp")
OFFICE_PARSERS = {"docx": parse_docx, "xlsx": parse_xlsx, "pptx": parse_pptx}
MAX_SNIFFED = 1 << 20
"""charset-normalizer judges a file's encoding from its first MiB."""


UNNAMED_TYPES = ("", "application/octet-stream")
"""What a client sends for a file whose type it does not know (curl -F file=@notes): its bytes tell."""


def kind_of(name: str, content_type: str | None = None, data: bytes | None = None) -> str:
    """The loader kind for a file name (a trailing .gz is looked through) or content type; a file with neither
    (no extension, a generic type) is known by its first bytes when they are given."""
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    suffix = Path(lower).suffix
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    media = (content_type or "").split(";")[0].strip().lower()
    if media in CONTENT_TYPES:
        return CONTENT_TYPES[media]
    if not suffix and media in UNNAMED_TYPES and data is not None:
        return sniff(data)
    raise UnsupportedMediaType(
        f"unsupported file type {suffix or content_type or name!r}; supported: {', '.join(sorted(SUFFIXES))} "
        "(optionally .gz)"
    )


def sniff(data: bytes) -> str:
    """The kind of an unnamed file from its signature: PDF, a Word, Excel, PowerPoint or OpenDocument archive,
    else text."""
    if data[:2] == b"\x1f\x8b":
        return "text"  # decompressed (and limited) by load_bytes; a text file is the one kind without a signature
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        head = data[:4096]
        if head[30:38] == b"mimetype":  # OpenDocument: its first part, stored uncompressed, names its media type
            start = 38 + int.from_bytes(head[28:30], "little")  # after the (usually empty) extra field
            media = head[start:start + int.from_bytes(head[18:22], "little")].decode("ascii", "replace")
            if media in OPENDOCUMENT_TYPES:
                return OPENDOCUMENT_TYPES[media]
        for part, kind in ((b"word/", "docx"), (b"xl/", "xlsx"), (b"ppt/", "pptx")):
            if part in head:
                return kind
        raise UnsupportedMediaType("the file is a zip archive that is none of Word (.docx), Excel (.xlsx), PowerPoint "
                                   "(.pptx) or OpenDocument (.odt, .ods, .odp)")
    return "text"


def legacy_encoding(data: bytes) -> str | None:
    """The encoding of text that is not UTF-8: of those charset-normalizer finds least chaotic, Windows-1252 (the
    most common legacy one) when it is among them; UTF-16/32 only with their byte-order mark."""
    matches = [m for m in charset_normalizer.from_bytes(data[:MAX_SNIFFED])
               if m.encoding and (not m.encoding.startswith("utf_") or m.bom)]
    if not matches:
        return None
    least = min(m.chaos for m in matches)
    tied = [m.encoding for m in matches if m.chaos <= least]
    return "cp1252" if "cp1252" in tied else tied[0]


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (a BOM is dropped); else the encoding charset-normalizer finds (a Windows-1252 CSV, a Latin-1 text);
    bytes that are text in no encoding are a clear 400."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        encoding = legacy_encoding(data) if b"\x00" not in data else None
        if encoding is None:
            raise BadRequest(f"{name} is not text: not valid UTF-8 (byte {exc.start}) nor another encoding; "
                             "re-encode it as UTF-8") from exc
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise BadRequest(f"{name} is not valid UTF-8 (byte {exc.start}): re-encode it as UTF-8") from exc


def load_bytes(data: bytes, name: str, content_type: str | None = None, *,
               max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> Iterator[LoadedDocument]:
    """Documents from one file's bytes; .gz is decompressed transparently, never past max_decompressed."""
    kind = kind_of(name, content_type, data)
    if name.lower().endswith(".gz") or data[:2] == b"\x1f\x8b":
        data = gunzip(data, name, max_decompressed)
    stem = Path(name[:-3] if name.lower().endswith(".gz") else name).stem
    provenance = {"file": name, "loader": kind}
    if kind in BINARY_KINDS:
        if kind == "pdf":
            title, text, sections = parse_pdf(data, stem, max_decompressed)
        elif kind in OFFICE_PARSERS:
            title, text, sections = OFFICE_PARSERS[kind](data, name, stem, max_decompressed)
        else:
            title, text, sections = parse_opendocument(data, name, kind, stem, max_decompressed)
        yield LoadedDocument(name, title, text, sections, provenance=provenance)
        return
    text = decode_text(data, name)
    if kind == "jsonl":
        yield from parse_jsonl(text, name)
        return
    doc = parse_text(text, kind, "", name, fallback_title=stem)
    doc.provenance = provenance
    yield doc


TEXT_FORMATS = ("markdown", "rst", "text", "html", "csv")


def parse_text(text: str, kind: str, title: str, external_id: str, fallback_title: str = "") -> LoadedDocument:
    """A document from text in one of TEXT_FORMATS, as normalised blocks; an explicit title wins over the
    parsed one."""
    fallback = title or fallback_title
    check_markup(text, kind, external_id or fallback or "the document")
    if kind == "markdown":
        parsed, text, sections = parse_markdown(text, fallback)
    elif kind == "rst":
        parsed, text, sections = parse_rst(text, fallback)
    elif kind == "html":
        parsed, text, sections = parse_html(text, fallback)
    elif kind == "csv":
        parsed, text, sections = parse_csv(text, fallback)
    else:
        _, text, _ = assemble(text_blocks(text), fallback)
        parsed, sections = fallback, [Section((fallback,) if fallback else (), 0, len(text))]
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
        except RecursionError as exc:
            raise InvalidInput(f"{name} line {number} nests deeper than {MAX_JSON_DEPTH} levels") from exc
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
    """Documents from a file; external ids are paths relative to the ingest root. A file a reader would see
    nothing in (an index page of only metadata and a table of contents) gives none: a folder loads without it."""
    relative = path.relative_to(root).as_posix() if path != root else path.name
    resolved = str(path.resolve())  # once per file: a JSON Lines file holds thousands of documents
    for document in load_bytes(path.read_bytes(), relative):
        if not document.text.strip():
            continue
        document.provenance.setdefault("path", resolved)
        yield document


def _load_file(item: tuple[Path, Path]) -> tuple[list[LoadedDocument], IpaiError | None]:
    try:
        return list(load_path(*item)), None
    except IpaiError as exc:  # the file's own fault (not text, too large, damaged): the others still load
        return [], exc


def load_files(files: list[tuple[Path, Path]], processes: int = 0
               ) -> Iterator[tuple[Path, list[LoadedDocument], IpaiError | None]]:
    """(file, its documents, why a loader refused it or None) for (root, file) pairs, in order. processes > 1
    parses the files in that many worker processes (reStructuredText through docutils takes some 10 ms a file; the
    GIL would serialise it)."""
    if processes <= 1 or len(files) < 2 * processes:
        for item in files:
            yield item[1], *_load_file(item)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        for (_, path), (documents, refused) in zip(files, pool.map(_load_file, files, chunksize=8)):
            yield path, documents, refused
