"""Loaders: Markdown, reStructuredText, plain text, HTML, PDF, Word, Excel, PowerPoint, OpenDocument, CSV and JSON
Lines, each read into the one document model (ingest/loaders/document.py): normalised text made of blocks, with
heading sections."""
from __future__ import annotations

from ingest.loaders.document import BLOCK_SEPARATOR, Block, LoadedDocument, assemble
from ingest.loaders.files import (
    SUFFIXES, TEXT_FORMATS, decode_text, iter_paths, kind_of, load_bytes, load_files, load_path, parse_jsonl,
    parse_text,
)
from ingest.loaders.html import parse_html
from ingest.loaders.limits import DEFAULT_MAX_DECOMPRESSED, gunzip
from ingest.loaders.markdown import parse_markdown
from ingest.loaders.office import parse_csv, parse_docx, parse_pptx, parse_xlsx
from ingest.loaders.opendocument import parse_opendocument
from ingest.loaders.pdf import parse_pdf
from ingest.loaders.rst import parse_rst

__all__ = [
    "BLOCK_SEPARATOR", "DEFAULT_MAX_DECOMPRESSED", "SUFFIXES", "TEXT_FORMATS", "Block", "LoadedDocument",
    "assemble", "decode_text", "gunzip", "iter_paths", "kind_of", "load_bytes", "load_files", "load_path", "parse_csv",
    "parse_docx", "parse_html", "parse_jsonl", "parse_markdown", "parse_opendocument", "parse_pdf", "parse_pptx",
    "parse_rst", "parse_text", "parse_xlsx",
]
