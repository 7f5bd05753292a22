"""HTML through selectolax (lexbor): visible text as blocks; tables as "header: value" rows; scripts, styles and
hidden elements dropped."""
from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ingest.loaders.document import Block, assemble, inline, table_rows

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "blockquote", "figure",
    "figcaption", "address", "details", "summary", "dl", "dt", "dd", "ul", "ol", "li", "pre", "table", "form",
    "fieldset", "hr", "center", "body", "html", *HEADINGS,
})
DROPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head", "svg", "canvas", "iframe", "object",
                          "embed", "button", "select", "input", "textarea", "img", "video", "audio", "map"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d])|opacity\s*:\s*0(?![.\d])",
                           re.IGNORECASE)
_OPEN_TAG = re.compile(r"<\s*([a-zA-Z][\w-]*)([^>]*)>")
_CLOSE_TAG = re.compile(r"<\s*/\s*([a-zA-Z][\w-]*)\s*>")


def hidden(node: LexborNode) -> bool:
    """An element a browser does not show: hidden, aria-hidden, or styled invisible (a place to hide text
    meant for a model rather than a reader)."""
    attrs = node.attributes
    if "hidden" in attrs or (attrs.get("aria-hidden") or "").lower() == "true":
        return True
    return bool(_HIDDEN_STYLE.search(attrs.get("style") or ""))


def inline_html_hides(tag: str) -> int:
    """For inline HTML inside Markdown: +1 when the tag opens a hidden element, -1 when it closes one
    (an approximation: hidden inline elements are not nested in practice)."""
    opened = _OPEN_TAG.match(tag.strip())
    if opened:
        attrs = opened.group(2)
        if re.search(r"\bhidden\b|aria-hidden\s*=\s*['\"]?true", attrs, re.IGNORECASE) or _HIDDEN_STYLE.search(attrs):
            return 1
        return 0
    return -1 if _CLOSE_TAG.match(tag.strip()) else 0


class _Walker:
    def __init__(self) -> None:
        self.buffer: list[str] = []
        self.out: list[Block] = []

    def flush(self, kind: str = "paragraph") -> None:
        text = inline("".join(self.buffer))
        self.buffer = []
        if text:
            self.out.append(Block(kind, text))

    def walk(self, node: LexborNode | None, marker: list[str] | None = None) -> None:
        child = node.child if node is not None else None
        while child is not None:
            self.visit(child)
            child = child.next

    def visit(self, node: LexborNode) -> None:
        tag = node.tag
        if tag == "-text":
            self.buffer.append(node.text_content or "")
            return
        if tag in ("-comment", "!doctype") or tag in DROPPED_TAGS or hidden(node):
            return
        if tag == "br":
            self.buffer.append(" ")
            return
        if tag not in BLOCK_TAGS:
            self.walk(node)
            return
        self.flush()
        if tag in HEADINGS:
            text = inline(node.text(separator=" "))
            if text:
                self.out.append(Block("heading", text, HEADINGS[tag]))
        elif tag == "pre":
            self.out.append(Block("code", node.text(separator="")))
        elif tag in ("ul", "ol"):
            number = int(node.attributes.get("start") or 1) if tag == "ol" else 0
            item = node.child
            while item is not None:
                if item.tag == "li":
                    self.list_item(item, f"{number}. " if tag == "ol" else "- ")
                    number += 1 if tag == "ol" else 0
                elif item.tag != "-text":
                    self.visit(item)
                item = item.next
        elif tag == "li":
            self.list_item(node, "- ")
        elif tag == "table":
            self.table(node)
        elif tag == "dt":
            self.walk(node)
            self.flush("item")
        else:
            self.walk(node)
            self.flush()

    def list_item(self, node: LexborNode, marker: str) -> None:
        """The item's own text as one block (marker first), then its nested blocks."""
        first = len(self.out)
        self.buffer.append(marker)
        self.walk(node)
        if inline("".join(self.buffer)) == marker.strip():
            self.buffer = []
        self.flush("item")
        if len(self.out) > first and not self.out[first].text.startswith(marker.strip()):
            lead = self.out[first]
            self.out[first] = Block("item", marker + lead.text, lead.level)

    def table(self, node: LexborNode) -> None:
        rows: list[list[str]] = []
        header: list[str] | None = None
        for tr in node.css("tr"):
            if tr.css_first("table") is not None:  # a layout row holding a table: its inner rows count
                continue
            cells = [c for c in tr.iter() if c.tag in ("td", "th") and not hidden(c)]
            texts = [inline(c.text(separator=" ")) for c in cells]
            if header is None and not rows and cells and all(c.tag == "th" for c in cells):
                header = texts
            else:
                rows.append(texts)
        self.out.extend(table_rows(rows, header))


def html_blocks(raw: str) -> list[Block]:
    """The blocks of an HTML document or fragment."""
    tree = LexborHTMLParser(raw)
    walker = _Walker()
    root = tree.body or tree.root
    walker.walk(root)
    walker.flush()
    return walker.out


def parse_html(raw: str, fallback_title: str) -> tuple[str, str, list]:
    """(title, normalised text, sections) of an HTML document; its <title> wins over its first heading."""
    tree = LexborHTMLParser(raw)
    title_node = tree.css_first("head > title") or tree.css_first("title")
    title, text, sections = assemble(html_blocks(raw), fallback_title)
    if title_node is not None and inline(title_node.text()):
        title = inline(title_node.text())
    return title, text, sections
