"""Search snippets made in Python: the query's words and their stems marked, stop words not, one or two short
fragments, the text's first words when nothing matches."""
from __future__ import annotations

from retrieval.snippets import MAX_WORDS, _spans, marker, snippet

TEXT = ("Credit notes refund invoices. A partial refund is booked as a credit note on the invoice. Refunds are "
        "issued within 14 days of the request, and the customer is told by email. " + "Filler words here. " * 40 +
        "At the end, one more refunded order is listed.")


def test_words_and_their_stems_are_marked_not_stop_words() -> None:
    out = snippet(TEXT, marker("What is a partial refund?"))
    assert "<mark>partial</mark> <mark>refund</mark>" in out and "<mark>Refunds</mark>" in out
    assert "<mark>a</mark>" not in out.lower() and "<mark>is</mark>" not in out
    assert "<mark>refunded</mark>" in out  # the second fragment, past the filler
    assert out.count(" ... ") == 1


def test_fragments_are_short_and_the_text_flat() -> None:
    out = snippet(TEXT, marker("refund"))
    for fragment in out.split(" ... "):
        assert len(fragment.replace("<mark>", "").replace("</mark>", "").split()) <= MAX_WORDS
    assert "\n" not in snippet("one\n\ntwo refund", marker("refund"))


def test_without_a_match_the_first_words() -> None:
    out = snippet(TEXT, marker("zebra"))
    assert "<mark>" not in out and out.startswith("Credit notes") and len(out.split()) == MAX_WORDS
    assert snippet(TEXT, marker("the of and")) == snippet(TEXT, None)  # stop words only: nothing to mark


def test_a_stem_that_is_no_prefix_of_its_word_marks_both() -> None:
    assert snippet("Happy customers, happiness.", marker("happy")) == "<mark>Happy</mark> customers, <mark>happiness</mark>."


def test_case_is_ignored_also_where_lower_casing_changes_the_length() -> None:
    """The text is matched lower-cased; 'İ' becomes two characters there, so such a text is matched as it is."""
    assert snippet("Paid REFUNDS.", marker("refund")) == "Paid <mark>REFUNDS</mark>."
    assert snippet("İstanbul: the REFUND is paid", marker("refund")) == "İstanbul: the <mark>REFUND</mark> is paid"


def test_words_are_found_where_the_pattern_finds_them() -> None:
    """The fast path (str.find at word starts) and the case-insensitive pattern agree: not inside a word, not after
    an underscore, a digit or a letter outside ASCII; each match runs to its word's end."""
    found = marker("refund 2024 notes")
    assert found is not None
    for text in ("prerefund refund_x x_refund refunds 2024a a2024 éRefund (refund) notes/refunded 20245 note",
                 "refund", "", "refundrefund refund-note"):
        low = text.lower()
        assert _spans(low, found.prefixes) == [m.span() for m in found.pattern.finditer(low)]
