"""PDF text through pypdf, with each page's hard-wrapped lines joined into paragraphs and words hyphenated
at a line's end rejoined."""
from __future__ import annotations

import io
import re
import statistics

from ingest.chunking import Section
from sql.errors import InvalidInput, IpaiError, PayloadTooLarge
from ingest.loaders.document import BLOCK_SEPARATOR, Block, inline
from ingest.loaders.limits import DEFAULT_MAX_DECOMPRESSED, PARSED_SHARE

_HYPHENATED = re.compile(r"(\w)-$")
_ENDS_SENTENCE = re.compile(r"[.!?:]['\")\]]?$")
_LIST_ITEM = re.compile(r"^(?:[-•▪◦*–]|\(?\d{1,3}[.)]|[a-z][.)])\s+")


def page_blocks(page: str) -> list[Block]:
    """A page's lines as paragraphs: a line continues the paragraph unless the previous one was blank, ended a
    sentence well short of the page's usual line length, or the line starts a list item."""
    lines = [line.strip() for line in page.splitlines()]
    widths = [len(line) for line in lines if line]
    if not widths:
        return []
    full = statistics.median(widths)
    blocks: list[str] = []
    current = ""
    previous = ""
    for line in lines:
        if not line:
            if current:
                blocks.append(current)
            current, previous = "", ""
            continue
        ends = bool(_ENDS_SENTENCE.search(previous)) and len(previous) < 0.8 * full
        if current and (ends or _LIST_ITEM.match(line)):
            blocks.append(current)
            current = ""
        if not current:
            current = line
        elif _HYPHENATED.search(current) and line[:1].islower():
            current = current[:-1] + line
        else:
            current = f"{current} {line}"
        previous = line
    if current:
        blocks.append(current)
    return [Block("item" if _LIST_ITEM.match(b) else "paragraph", inline(b)) for b in blocks]


def parse_pdf(data: bytes, fallback_title: str,
              limit: int = DEFAULT_MAX_DECOMPRESSED) -> tuple[str, str, list[Section]]:
    """Text per page; each page is a section named 'Page N' under the document's title. Before any text is
    extracted, the pages' content streams must decompress to 1/PARSED_SHARE of the limit together: a few KiB of
    PDF can hold hundreds of MiB of operators, and extraction takes about 3 s per MiB."""
    from pypdf import PdfReader

    budget = limit // PARSED_SHARE
    try:
        reader = PdfReader(io.BytesIO(data))
        for number, page in enumerate(reader.pages, 1):
            contents = page.get_contents()
            budget -= len(contents.get_data()) if contents is not None else 0
            if budget < 0:
                raise PayloadTooLarge(f"the PDF's pages decompress to more than {limit // PARSED_SHARE:,} bytes of "
                                      f"content by page {number} (a quarter of MAX_DECOMPRESSED_BYTES); split it "
                                      "or raise MAX_DECOMPRESSED_BYTES")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except IpaiError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure on an upload is the upload's fault
        raise InvalidInput(f"the PDF could not be read: {exc.__class__.__name__}: {exc}") from exc
    title = " ".join(str(meta_title).split()) or fallback_title
    parts: list[str] = []
    sections: list[Section] = []
    position = 0
    for number, page in enumerate(pages, 1):
        body = BLOCK_SEPARATOR.join(b.text for b in page_blocks(page))
        if not body:
            continue
        if parts:
            position += len(BLOCK_SEPARATOR)
        sections.append(Section((title, f"Page {number}"), position, position + len(body)))
        parts.append(body)
        position += len(body)
    return title, BLOCK_SEPARATOR.join(parts), sections
