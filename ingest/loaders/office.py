"""Office files: Word (.docx, python-docx), Excel (.xlsx, openpyxl), PowerPoint (.pptx, python-pptx) and CSV, as
headings, paragraphs, list items and "header: value" table rows."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

from sql.errors import InvalidInput
from ingest.loaders.document import Block, assemble, headed_table, inline, speaker_notes, table_rows
from ingest.loaders.limits import DEFAULT_MAX_DECOMPRESSED, open_zip

_HEADING_STYLE = re.compile(r"^(?:heading|überschrift|titre|título|kop)\s*(\d)$", re.IGNORECASE)
MAX_ROWS = 1_000_000


def _docx_blocks(document: object) -> Iterator[Block]:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for item in document.iter_inner_content():  # type: ignore[attr-defined]
        if isinstance(item, Paragraph):
            text = inline(item.text)
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            heading = _HEADING_STYLE.match(style)
            if style.lower() == "title":
                yield Block("heading", text, 1)
            elif heading:
                yield Block("heading", text, int(heading.group(1)) + 1)
            elif style.lower().startswith("list") or item._p.pPr is not None and item._p.pPr.numPr is not None:
                yield Block("item", ("1. " if "number" in style.lower() else "- ") + text)
            else:
                yield Block("paragraph", text)
        elif isinstance(item, Table):
            rows = [[cell.text for cell in row.cells] for row in item.rows]
            yield from headed_table(rows)


def parse_docx(data: bytes, name: str, fallback_title: str,
               limit: int = DEFAULT_MAX_DECOMPRESSED) -> tuple[str, str, list]:
    """(title, normalised text, sections) of a Word document; its core title wins over its first heading."""
    import docx

    return _office_file(data, name, fallback_title, limit, "a Word document", docx.Document, _docx_blocks)


def _office_file(data: bytes, name: str, fallback_title: str, limit: int, what: str, read: Callable[[Any], Any],
                 blocks_of: Callable[[Any], Iterator[Block]], invented: str = "") -> tuple[str, str, list]:
    """(title, normalised text, sections) of a Word or PowerPoint file, read by its library: the core title wins
    (unless it is the one the library invents for a file without one)."""
    open_zip(data, name, limit).close()
    try:
        document = read(io.BytesIO(data))
        blocks = list(blocks_of(document))
        core_title = inline(document.core_properties.title or "")
    except Exception as exc:  # noqa: BLE001 - any parser failure on an upload is the upload's fault
        raise InvalidInput(f"{name} could not be read as {what}: {exc.__class__.__name__}: {exc}") from exc
    title, text, sections = assemble(blocks, fallback_title)
    return core_title if core_title and core_title != invented else title, text, sections


def _slide_blocks(shapes: object, skip: int | None = None) -> Iterator[Block]:
    """A slide's shapes in reading order (top to bottom, left to right; groups opened): a body placeholder's
    paragraphs as list items, other text as paragraphs, tables as rows. Footers, dates and slide numbers,
    repeated on every slide, are left out."""
    from pptx.enum.shapes import PP_PLACEHOLDER
    from pptx.shapes.group import GroupShape

    boilerplate = {PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.HEADER}
    bullets = {PP_PLACEHOLDER.BODY, PP_PLACEHOLDER.OBJECT, PP_PLACEHOLDER.VERTICAL_BODY, PP_PLACEHOLDER.VERTICAL_OBJECT}
    for shape in sorted(shapes, key=lambda s: (s.top or 0, s.left or 0)):  # type: ignore[attr-defined]
        placeholder = shape.placeholder_format.type if shape.is_placeholder else None
        if shape.shape_id == skip or placeholder in boilerplate:
            continue
        if isinstance(shape, GroupShape):  # (shape_type raises on shapes python-pptx does not know)
            yield from _slide_blocks(shape.shapes)
        elif shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            yield from headed_table(rows)
        elif shape.has_text_frame:
            for paragraph in shape.text_frame.paragraphs:
                text = inline(paragraph.text)
                if text:
                    yield Block("item", f"- {text}") if placeholder in bullets else Block("paragraph", text)


def _pptx_blocks(presentation: object) -> Iterator[Block]:
    """Each slide a section headed by its title ("Slide N" without one), then its speaker notes."""
    for number, slide in enumerate(presentation.slides, 1):  # type: ignore[attr-defined]
        title = slide.shapes.title
        heading = inline(title.text_frame.text) if title is not None and title.has_text_frame else ""
        yield Block("heading", heading or f"Slide {number}", 2)
        yield from _slide_blocks(slide.shapes, skip=title.shape_id if title is not None else None)
        frame = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
        notes = [text for text in (inline(p.text) for p in frame.paragraphs) if text] if frame is not None else []
        yield from speaker_notes(notes)


def parse_pptx(data: bytes, name: str, fallback_title: str,
               limit: int = DEFAULT_MAX_DECOMPRESSED) -> tuple[str, str, list]:
    """(title, normalised text, sections) of a PowerPoint deck; its core title wins over its first slide's."""
    import pptx

    # python-pptx names a deck without core properties (written by another tool) "PowerPoint Presentation"
    return _office_file(data, name, fallback_title, limit, "a PowerPoint deck", pptx.Presentation, _pptx_blocks,
                        invented="PowerPoint Presentation")


def sheet_blocks(name: str, rows: Iterator[list[str]]) -> Iterator[Block]:
    """A sheet (or a CSV file) as rows: its first non-empty row is the header."""
    header: list[str] | None = None
    batch: list[list[str]] = []
    for count, row in enumerate(rows):
        if count >= MAX_ROWS:
            break
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = row
            continue
        batch.append(row)
    if name:
        yield Block("heading", name, 2)
    if header is not None and not batch:
        yield from table_rows([header], None)
    yield from table_rows(batch, header)


def parse_xlsx(data: bytes, name: str, fallback_title: str,
               limit: int = DEFAULT_MAX_DECOMPRESSED) -> tuple[str, str, list]:
    """(title, normalised text, sections) of a workbook: each sheet a section of "header: value" rows."""
    import openpyxl

    open_zip(data, name, limit).close()
    blocks: list[Block] = [Block("heading", fallback_title, 1)]
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in book.worksheets:
                rows = ([_cell(v) for v in row] for row in sheet.iter_rows(values_only=True))
                blocks.extend(sheet_blocks(sheet.title, rows))
        finally:
            book.close()
    except Exception as exc:  # noqa: BLE001 - any parser failure on an upload is the upload's fault
        raise InvalidInput(f"{name} could not be read as an Excel workbook: {exc.__class__.__name__}: {exc}") from exc
    return assemble(blocks, fallback_title)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_csv(text: str, fallback_title: str) -> tuple[str, str, list]:
    """(title, normalised text, sections) of a CSV file (delimiter sniffed): its rows as "header: value"."""
    sample = text[:64 * 1024]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        blocks = [Block("heading", fallback_title, 1), *sheet_blocks("", csv.reader(io.StringIO(text), dialect))]
    except csv.Error as exc:
        raise InvalidInput(f"the CSV file could not be read: {exc}") from exc
    return assemble(blocks, fallback_title)
