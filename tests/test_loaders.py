"""Each loader, .gz transparency, folder walking and the loader errors."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from app.errors import BadRequest, InvalidInput, UnsupportedMediaType
from ingest.loaders import iter_paths, load_bytes, load_path


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one text line per page (Helvetica)."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    font_id = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        content_id = 4 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_markdown_title_and_sections() -> None:
    text = "# Guide\n\nIntro.\n\n```\n# not a heading\n```\n\n## Part\n\nBody."
    [doc] = load_bytes(text.encode(), "guide.md")
    assert doc.title == "Guide"
    paths = [s.path for s in doc.sections]
    assert ("Guide", "Part") in paths
    assert not any("not a heading" in " ".join(p) for p in paths)


def test_rst_sections_with_overline_and_underline() -> None:
    text = "=====\nTitle\n=====\n\nIntro.\n\nSection\n-------\n\nBody text.\n\nSub\n~~~\n\nMore.\n"
    [doc] = load_bytes(text.encode(), "page.rst")
    assert doc.title == "Title"
    assert ("Title", "Section", "Sub") in [s.path for s in doc.sections]


def test_plain_text() -> None:
    [doc] = load_bytes("just words\n\nmore words".encode(), "notes.txt")
    assert doc.title == "notes" and doc.text == "just words\n\nmore words"


def test_html_drops_scripts_and_keeps_headings() -> None:
    html = """<html><head><title>Page</title><script>var secret = 1;</script></head>
    <body><h1>Heading</h1><p>Visible <b>text</b>.</p><script>alert('x')</script>
    <style>.a{}</style><h2>Second</h2><ul><li>item one</li></ul></body></html>"""
    [doc] = load_bytes(html.encode(), "page.html")
    assert "alert" not in doc.text and "secret" not in doc.text and ".a{}" not in doc.text
    assert "Visible text ." in doc.text or "Visible text." in doc.text
    assert doc.title == "Page"
    assert ("Heading", "Second") in [s.path for s in doc.sections]


def test_pdf_text_per_page() -> None:
    [doc] = load_bytes(make_pdf(["Hello PDF world", "Second page here"]), "file.pdf")
    assert "Hello PDF world" in doc.text and "Second page here" in doc.text
    assert [s.path[-1] for s in doc.sections] == ["Page 1", "Page 2"]
    for section in doc.sections:
        assert doc.text[section.start:section.end].strip()


def test_beir_jsonl_and_gzip(tmp_path: Path) -> None:
    lines = [{"_id": "7", "title": "A title", "text": "Body seven."}, {"_id": 8, "title": "", "text": "Eight."}]
    data = "\n".join(json.dumps(x) for x in lines).encode()
    docs = list(load_bytes(gzip.compress(data), "corpus.jsonl.gz"))
    assert [(d.external_id, d.title, d.text) for d in docs] == [("7", "A title", "Body seven."), ("8", "", "Eight.")]


def test_folders_are_walked_recursively(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.md").write_text("# One\n\nx")
    (tmp_path / "a" / "b" / "two.rst").write_text("Two\n===\n\ny")
    (tmp_path / "a" / "b" / "skip.bin").write_bytes(b"\x00\x01")
    (tmp_path / "three.txt.gz").write_bytes(gzip.compress(b"three"))
    found = [path.relative_to(tmp_path).as_posix() for _, path in iter_paths([tmp_path])]
    assert found == ["a/b/two.rst", "a/one.md", "three.txt.gz"]
    ids = [doc.external_id for root, path in iter_paths([tmp_path]) for doc in load_path(root, path)]
    assert ids == ["a/b/two.rst", "a/one.md", "three.txt.gz"]


def test_errors() -> None:
    with pytest.raises(UnsupportedMediaType):
        list(load_bytes(b"x", "image.png"))
    with pytest.raises(BadRequest, match="not valid UTF-8"):
        list(load_bytes(b"caf\xe9", "bad.txt"))
    with pytest.raises(BadRequest, match="line 1 is not valid JSON"):
        list(load_bytes(b"{nope", "c.jsonl"))
    with pytest.raises(InvalidInput, match="needs '_id'"):
        list(load_bytes(b'{"title": "x"}', "c.jsonl"))
    with pytest.raises(BadRequest, match="gzip"):
        list(load_bytes(b"\x1f\x8bnot-gzip", "x.md.gz"))
