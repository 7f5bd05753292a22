"""Chunk boundaries, offsets, heading paths and token limits."""
from __future__ import annotations

import re

import pytest

from ingest.chunking import Chunker, Section
from ingest.loaders import parse_markdown
from ingest.tokens import count_tokens

DOC = """# Accounting

Intro paragraph about accounting.

## Invoices

Invoices are posted journal entries. They get a number when posted.

### Credit notes

""" + " ".join(f"Sentence number {i} explains a detail of credit notes." for i in range(200)) + """

## Payments

Payments settle invoices.
"""


def test_offsets_are_exact_and_chunks_respect_the_token_limit() -> None:
    title, text, sections = parse_markdown(DOC, "x")
    chunker = Chunker(size=64, overlap=16)
    chunks = chunker.chunk(text, sections, title)
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.char_start:chunk.char_end] == chunk.content
        assert chunk.token_count == count_tokens(chunk.content)
        assert chunk.token_count <= 64
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_heading_paths_follow_the_outline() -> None:
    title, text, sections = parse_markdown(DOC, "x")
    chunks = Chunker(size=64, overlap=0).chunk(text, sections, title)
    paths = {c.section_path for c in chunks}
    assert "Accounting > Invoices > Credit notes" in paths
    assert "Accounting > Payments" in paths
    payments = [c for c in chunks if c.section_path == "Accounting > Payments"]
    assert payments[0].content == "Payments\n\nPayments settle invoices."  # the heading as a reader sees it


def test_a_heading_alone_joins_the_next_section_and_sentences_stay_whole() -> None:
    text = "# Guide\n\n## Set up your reordering rule\n\n### Manual\n\n" + " ".join(
        f"Go to Inventory → Configuration, e.g. in Odoo v14.0, for warehouse {i} today." for i in range(60))
    title, normalised, sections = parse_markdown(text, "x")
    chunks = Chunker(size=64, overlap=0).chunk(normalised, sections, title)
    assert not any(c.content in ("Guide", "Set up your reordering rule") for c in chunks)
    assert chunks[0].content.startswith("Guide\n\nSet up your reordering rule\n\nManual")
    for chunk in chunks[1:]:  # cut between sentences: "e.g." and "v14.0" do not end one
        assert chunk.content.startswith("Go to Inventory") and chunk.content.endswith(".")


def test_never_cuts_inside_a_word() -> None:
    text = " ".join(["internationalisation"] * 400)
    chunks = Chunker(size=32, overlap=8).chunk(text)
    for chunk in chunks:
        assert re.fullmatch(r"internationalisation( internationalisation)*", chunk.content), chunk.content[:60]


def test_overlap_repeats_trailing_sentences() -> None:
    text = " ".join(f"Fact {i} is stated here." for i in range(100))
    chunks = Chunker(size=40, overlap=12).chunk(text, [Section((), 0, len(text))])
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start < a.char_end, "consecutive chunks share their boundary sentences"
        assert b.char_end > a.char_end, "every chunk makes progress"


def test_small_document_is_one_chunk_and_blank_sections_are_skipped() -> None:
    title, text, sections = parse_markdown("# T\n\n\n\n## Empty\n\n## Body\n\nOne line.", "x")
    chunks = Chunker().chunk(text, sections, title)
    assert all(c.content.strip() for c in chunks)
    assert chunks[-1].content.endswith("One line.")


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Chunker(size=64, overlap=64)
    with pytest.raises(ValueError):
        Chunker(size=8)
