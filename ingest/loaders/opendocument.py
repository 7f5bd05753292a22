"""OpenDocument files (LibreOffice, OpenOffice; Google Docs exports them): text (.odt), spreadsheets (.ods) and
presentations (.odp), as headings, paragraphs, list items and "header: value" table rows. Their content.xml is
read with lxml's parser told to expand no entity and load nothing (no DTD, no network, no local file)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from lxml import etree

from sql.errors import InvalidInput, UnsupportedMediaType
from ingest.loaders.document import Block, assemble, headed_table, inline, speaker_notes
from ingest.loaders.limits import DEFAULT_MAX_DECOMPRESSED, open_zip
from ingest.loaders.office import sheet_blocks

MEDIA_TYPES = {"application/vnd.oasis.opendocument.text": "odt",
               "application/vnd.oasis.opendocument.spreadsheet": "ods",
               "application/vnd.oasis.opendocument.presentation": "odp"}
KINDS = {"odt": "text document", "ods": "spreadsheet", "odp": "presentation"}
BODIES = {"odt": "office:body/office:text", "ods": "office:body/office:spreadsheet",
          "odp": "office:body/office:presentation"}

_NS = {"office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
       "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
       "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
       "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
       "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
       "dc": "http://purl.org/dc/elements/1.1/"}


def _tag(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{_NS[prefix]}}}{local}"


H, P, SPAN_BREAKS = _tag("text:h"), _tag("text:p"), {_tag("text:s"), _tag("text:tab"), _tag("text:line-break")}
LIST, ROW, CELL, TABLE = _tag("text:list"), _tag("table:table-row"), _tag("table:table-cell"), _tag("table:table")
ROW_GROUPS = {_tag("table:table-header-rows"), _tag("table:table-rows"), _tag("table:table-row-group")}
FRAME, TEXT_BOX, PAGE, NOTES = _tag("draw:frame"), _tag("draw:text-box"), _tag("draw:page"), _tag("presentation:notes")
CONTAINERS = {_tag("text:section"), FRAME, TEXT_BOX, _tag("draw:g"), _tag("draw:custom-shape"), _tag("draw:rect"),
              _tag("text:list-item"), _tag("text:list-header")}
"""Elements whose blocks are read in order. Others (tables of contents, which repeat the headings, forms,
declarations) are left out."""
UNSEEN = {_tag("text:note"), _tag("office:annotation"), _tag("text:tracked-changes"), FRAME}
"""Inside a paragraph, not part of its text: footnotes, comments, deleted text kept for review; frames (an image,
a text box) are blocks of their own."""
OUTLINE_LEVELS = {str(n) for n in range(1, 11)}
_CLASS = _tag("presentation:class")
SLIDE_BOILERPLATE = {"title", "date-time", "footer", "header", "page-number"}
PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)


def _text(element: etree._Element) -> str:
    """What a reader sees of an element: its spans and links, spaces, tabs and line breaks as one space,
    paragraphs (in a table cell) apart."""
    out: list[str] = [element.text or ""]
    for child in element:
        if child.tag in SPAN_BREAKS:
            out.append(" ")
        elif child.tag not in UNSEEN and isinstance(child.tag, str):
            out.append(_text(child))
            if child.tag in (P, H):
                out.append(" ")
        out.append(child.tail or "")
    return "".join(out)


def _blocks(elements: Iterable[etree._Element], item: bool = False) -> Iterator[Block]:
    """The blocks of elements (an element's children, when it is given) in document order."""
    for child in elements:
        if child.tag == H:
            level = child.get(_tag("text:outline-level")) or "1"
            yield Block("heading", _text(child), int(level) + 1 if level in OUTLINE_LEVELS else 2)
        elif child.tag == P:
            if item:
                yield Block("item", f"- {inline(_text(child))}")
            elif child.get(_tag("text:style-name")) == "Title":
                yield Block("heading", _text(child), 1)
            else:
                yield Block("paragraph", _text(child))
            for box in child.iter(TEXT_BOX):  # a text box anchored in the paragraph (not one inside it)
                if next(box.iterancestors(P)) is child:
                    yield from _blocks(box)
        elif child.tag == LIST:
            yield from _blocks(child, item=True)
        elif child.tag == TABLE:
            rows = _rows(child)
            yield from headed_table(rows)
        elif child.tag in CONTAINERS:
            yield from _blocks(child, item)


def _rows(table: etree._Element) -> list[list[str]]:
    """A table's own rows (header rows and row groups opened; a table nested in a cell is that cell's text)."""
    rows = []
    for child in table:
        if child.tag == ROW:
            rows.append([inline(_text(cell)) for cell in child if cell.tag == CELL])
        elif child.tag in ROW_GROUPS:
            rows.extend(_rows(child))
    return rows


def _sheets(spreadsheet: etree._Element) -> Iterator[Block]:
    for table in spreadsheet:
        if table.tag == TABLE:
            yield from sheet_blocks(table.get(_tag("table:name")) or "", iter(_rows(table)))


def _slides(presentation: etree._Element) -> Iterator[Block]:
    """Each page a section headed by its title frame ("Slide N" without one), then its other shapes (an outline
    frame's paragraphs as list items; dates, footers and page numbers left out), then its speaker notes."""
    for number, page in enumerate((p for p in presentation if p.tag == PAGE), 1):
        titles = [inline(_text(shape)) for shape in page if shape.get(_CLASS) == "title"]
        yield Block("heading", next((t for t in titles if t), f"Slide {number}"), 2)
        for shape in page:
            if shape.tag != NOTES and shape.get(_CLASS) not in SLIDE_BOILERPLATE:
                yield from _blocks([shape], item=shape.get(_CLASS) == "outline")
        notes = [b.text for n in page if n.tag == NOTES for b in _blocks(n) if inline(b.text)]
        yield from speaker_notes(notes)


def parse_opendocument(data: bytes, name: str, kind: str, fallback_title: str,
                       limit: int = DEFAULT_MAX_DECOMPRESSED) -> tuple[str, str, list]:
    """(title, normalised text, sections) of an OpenDocument file; its own title (meta.xml) wins over its first
    heading. kind: odt, ods or odp; a file of another OpenDocument kind than its name says is a 415."""
    with open_zip(data, name, limit) as archive:
        try:
            media = archive.read("mimetype").decode("ascii", "replace").strip()
            content = archive.read("content.xml")
            meta = archive.read("meta.xml") if "meta.xml" in archive.namelist() else None
        except KeyError as exc:
            raise InvalidInput(f"{name} is not an OpenDocument file: {exc.args[0]}") from exc
        except Exception as exc:  # noqa: BLE001 - damaged or encrypted parts (zlib, CRC, password): the upload's fault
            raise InvalidInput(f"{name} could not be read: {exc.__class__.__name__}: {exc}") from exc
    if MEDIA_TYPES.get(media) != kind:
        raise UnsupportedMediaType(f"{name} holds {media or 'no media type'!r}, not an OpenDocument "
                                   f"{KINDS[kind]}")
    try:
        root = etree.fromstring(content, PARSER)
        body = root.find(BODIES[kind], _NS)
        if body is None:
            raise InvalidInput(f"{name} has no {KINDS[kind]} body")
        if kind == "ods":
            blocks = [Block("heading", fallback_title, 1), *_sheets(body)]
        else:
            blocks = list(_slides(body) if kind == "odp" else _blocks(body))
        own_title = ""
        if meta is not None:
            found = etree.fromstring(meta, PARSER).find(".//dc:title", _NS)
            own_title = inline(found.text or "") if found is not None else ""
    except (etree.XMLSyntaxError, RecursionError, ValueError) as exc:
        raise InvalidInput(f"{name} could not be read as an OpenDocument {KINDS[kind]}: {exc}") from exc
    title, text, sections = assemble(blocks, fallback_title)
    return own_title or title, text, sections
