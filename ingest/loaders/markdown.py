"""Markdown through markdown-it-py (CommonMark with tables): soft breaks joined, inline markup rendered."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ingest.loaders.document import Block, assemble, table_rows

_MD = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def inline_text(children: Sequence[Token] | None) -> str:
    """What a reader sees of inline markup: text, code as text, link text (not its address), image alt
    text, breaks as spaces, inline HTML tags dropped (hidden inline HTML with them)."""
    out: list[str] = []
    hidden = 0
    for token in children or ():
        if token.type == "html_inline":
            from ingest.loaders.html import inline_html_hides

            hidden = max(0, hidden + inline_html_hides(token.content))
            continue
        if hidden:
            continue
        if token.type in ("text", "code_inline"):
            out.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif token.type == "image":
            out.append(inline_text(token.children))
    return "".join(out)


def markdown_blocks(text: str) -> Iterator[Block]:
    """Blocks of a Markdown document, in order."""
    tokens = _MD.parse(text)
    lists: list[list[int]] = []  # per open list: [next number] (ordered) or [] (bullets)
    item_open: list[bool] = []  # whether the current item's first paragraph is still to come
    table: list[list[str]] | None = None
    header: list[str] | None = None
    row: list[str] = []
    in_header = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            yield Block("heading", inline_text(tokens[i + 1].children), int(token.tag[1]))
            i += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append([int(token.attrGet("start") or 1)] if kind == "ordered_list_open" else [])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            item_open.append(True)
        elif kind == "list_item_close":
            item_open.pop()
        elif kind == "paragraph_open":
            content = inline_text(tokens[i + 1].children)
            if item_open and item_open[-1]:
                item_open[-1] = False
                numbering = lists[-1]
                marker = f"{numbering[0]}. " if numbering else "- "
                if numbering:
                    numbering[0] += 1
                yield Block("item", marker + content)
            else:
                yield Block("paragraph", content)
            i += 3
            continue
        elif kind in ("fence", "code_block"):
            yield Block("code", token.content)
        elif kind == "html_block":
            from ingest.loaders.html import html_blocks

            yield from html_blocks(token.content)
        elif kind == "table_open":
            table, header = [], None
        elif kind == "thead_open":
            in_header = True
        elif kind == "thead_close":
            in_header = False
        elif kind == "tr_open":
            row = []
        elif kind in ("th_open", "td_open"):
            row.append(inline_text(tokens[i + 1].children))
            i += 3
            continue
        elif kind == "tr_close" and table is not None:
            if in_header and header is None:
                header = row
            else:
                table.append(row)
        elif kind == "table_close" and table is not None:
            yield from table_rows(table, header)
            table = None
        i += 1


def parse_markdown(text: str, fallback_title: str) -> tuple[str, str, list]:
    """(title, normalised text, sections) of a Markdown document."""
    return assemble(markdown_blocks(text), fallback_title)
