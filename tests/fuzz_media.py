"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz_media): what a file of each media type the upload form
declares looks like, so that the fuzzer's uploads are documents of the type they claim to be (its default for
`format: binary` is an image or random bytes, which no declared type describes)."""
from __future__ import annotations

import json

import schemathesis
from hypothesis import strategies as st

from ingest.loaders.files import CONTENT_TYPES
from tests.samples import make_docx, make_opendocument, make_pdf, make_pptx, make_xlsx

WORDS = st.lists(st.sampled_from(["invoice", "payment", "journal", "stock", "reordering", "rule", "vendor",
                                  "bill", "the", "a", "is", "posted", "Odoo", "2024", "v14.0"]),
                 min_size=1, max_size=20).map(" ".join)
PROSE = st.text(min_size=1, max_size=200).filter(lambda t: t.strip() and "\x00" not in t)
TEXT = st.one_of(WORDS, PROSE)

SAMPLES = {
    "markdown": TEXT.map(lambda t: f"# Guide\n\n{t}\n"),
    "rst": TEXT.map(lambda t: f"Guide\n=====\n\n{t}\n"),
    "text": TEXT,
    "html": WORDS.map(lambda t: f"<html><body><h1>Guide</h1><p>{t}</p></body></html>"),
    "csv": WORDS.map(lambda t: f"topic,note\nguide,\"{t}\"\n"),
    "jsonl": TEXT.map(lambda t: json.dumps({"_id": "d1", "title": "Guide", "text": t})),
    "pdf": WORDS.map(lambda t: make_pdf([t])),
    "docx": WORDS.map(lambda t: make_docx("Guide", [t])),
    "xlsx": WORDS.map(lambda t: make_xlsx([["topic", "note"], ["guide", t]])),
    "pptx": WORDS.map(lambda t: make_pptx("Guide", [t])),
    "odt": WORDS.map(lambda t: make_opendocument("odt", f"<text:h>Guide</text:h><text:p>{t}</text:p>")),
    "ods": WORDS.map(lambda t: make_opendocument("ods", '<table:table table:name="Guide"><table:table-row>'
                                                         f"<table:table-cell><text:p>{t}</text:p></table:table-cell>"
                                                         "</table:table-row></table:table>")),
    "odp": WORDS.map(lambda t: make_opendocument("odp", f"<draw:page><draw:custom-shape><text:p>{t}</text:p>"
                                                         "</draw:custom-shape></draw:page>")),
}

for media_type, kind in CONTENT_TYPES.items():
    sample = SAMPLES[kind]
    schemathesis.openapi.media_type(media_type, sample.map(lambda v: v if isinstance(v, bytes) else v.encode()))

# A binary form field the fuzzer fills without a media type's strategy (negative cases keep the other parts
# valid) is a document too, not random bytes.
schemathesis.openapi.format("binary", SAMPLES["text"].map(str.encode))
