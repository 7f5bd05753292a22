"""Bounded decompression: a compressed upload or container never expands past a limit in memory."""
from __future__ import annotations

import io
import zipfile
import zlib

from sql.errors import BadRequest, PayloadTooLarge

DEFAULT_MAX_DECOMPRESSED = 256 * 1024 * 1024
"""Largest decompressed size of one file (a .gz, or all the parts of an office file's zip container together)."""
_STEP = 1 << 20


def gunzip(data: bytes, name: str, limit: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """The decompressed bytes of a gzip file (several members too), read in steps so that a bomb stops at the
    limit instead of being allocated whole."""
    out = bytearray()
    view = memoryview(data)
    while view:
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while True:
                chunk = decoder.decompress(view, _STEP)
                out += chunk
                if len(out) > limit:
                    raise PayloadTooLarge(
                        f"{name} decompresses to more than {limit:,} bytes; split it or raise MAX_DECOMPRESSED_BYTES")
                view = memoryview(decoder.unconsumed_tail)
                if decoder.eof or not view:
                    break
        except zlib.error as exc:
            raise BadRequest(f"{name} is not a valid gzip file: {exc}") from exc
        if not decoder.eof:
            raise BadRequest(f"{name} is not a valid gzip file: it ends before its compressed data does")
        view = memoryview(decoder.unused_data)
        while view and view[0] == 0:  # padding after the last member
            view = view[1:]
    return bytes(out)


MAX_MARKUP_CHARS = {"markdown": 4 << 20, "rst": 1 << 20, "html": 8 << 20}
"""Largest Markdown, reStructuredText and HTML document (in characters, decompressed) its parser takes whole: the
parsers hold the whole document's tokens or tree, 60 (HTML) to 210 (reStructuredText) times its size in memory,
and take about 5 s (markdown-it) and 50 s (docutils) per MiB. The largest page of the Odoo documentation is 86 KiB."""
_FORMAT_NAMES = {"markdown": "Markdown", "rst": "reStructuredText", "html": "HTML"}


def check_markup(text: str, kind: str, name: str) -> None:
    """A 413 for a document of a markup format past its MAX_MARKUP_CHARS."""
    limit = MAX_MARKUP_CHARS.get(kind)
    if limit is not None and len(text) > limit:
        raise PayloadTooLarge(f"{name} is {len(text):,} characters of {_FORMAT_NAMES[kind]}, more than the "
                              f"{limit:,} its parser takes whole; split it into several documents")


PARSED_SHARE = 4
"""What a parser works through whole may take this fraction of the decompressed limit (64 MiB by default): the XML
parts of an office file (Word, PowerPoint and OpenDocument parsers hold them as trees, about 12 times the XML's size
in memory; Excel's is read cell by cell, about 0.6 s per MiB), and the page content streams of a PDF, whose text
extraction takes about 3 s per MiB. A page of text typically takes a few KiB of either (python-docx's empty
document: 0.8 MiB of XML, mostly styles)."""


def open_zip(data: bytes, name: str, limit: int = DEFAULT_MAX_DECOMPRESSED) -> zipfile.ZipFile:
    """An office file's zip container, once its parts' declared sizes fit the limit, and its XML parts' 1/PARSED_SHARE
    of it (zipfile never reads a part past its declared size, so the declaration bounds what a parser can inflate)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise BadRequest(f"{name} is not a valid Office file (its zip container could not be read): {exc}") from exc
    total = sum(info.file_size for info in archive.infolist())
    if total > limit:
        raise PayloadTooLarge(f"{name} decompresses to {total:,} bytes, more than {limit:,}; split it or raise "
                              "MAX_DECOMPRESSED_BYTES")
    xml = sum(info.file_size for info in archive.infolist() if info.filename.endswith((".xml", ".rels")))
    if xml > limit // PARSED_SHARE:
        raise PayloadTooLarge(f"{name} holds {xml:,} bytes of XML, more than {limit // PARSED_SHARE:,} (a quarter "
                              "of MAX_DECOMPRESSED_BYTES: its parser works through all of it); split it or raise "
                              "MAX_DECOMPRESSED_BYTES")
    return archive
