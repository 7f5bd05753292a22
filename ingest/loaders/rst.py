"""reStructuredText through docutils: roles rendered to their text, directives to what a reader sees."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, directives, roles
from docutils.statemachine import StringList
from docutils.utils import unescape

from ingest.loaders.document import Block, assemble, inline, table_rows

SETTINGS = {
    "report_level": 5, "halt_level": 5, "warning_stream": False, "traceback": True,
    # Documents come from writers and uploads: never read other files or pass raw HTML through.
    "file_insertion_enabled": False, "raw_enabled": False,
    "doctitle_xform": False, "docinfo_xform": False, "sectsubtitle_xform": False,
    "input_encoding": "unicode", "syntax_highlight": "none", "smart_quotes": False,
}
DROPPED = ("toctree", "rst-class", "highlight", "currentmodule", "program", "index", "meta", "tabularcolumns",
           "raw", "include", "literalinclude", "todo", "automodule", "autoclass", "automethod", "autoattribute",
           "autofunction", "autodata", "autoexception", "autosummary", "graphviz", "youtube", "cssclass",
           "default-role", "role", "sectionauthor", "moduleauthor", "codeauthor", "spelling")
LABELLED = {"seealso": "See also", "exercise": "Exercise", "versionadded": "New in version",
            "versionchanged": "Changed in version", "deprecated": "Deprecated since version", "example": "Example"}
CODE = ("code-block", "sourcecode", "code")
_ROLE_NAME = re.compile(r"(?<![\w`]):((?:[\w-]+:)?[\w+.-]+):`")
_DIRECTIVE_NAME = re.compile(r"^\s*\.\.\s+((?:[\w-]+:)?[\w+.-]+)::", re.MULTILINE)
_EXPLICIT = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.DOTALL)
_LOCK = threading.Lock()


class Dropped(Directive):
    """A directive with no reader-visible text (tables of contents, styling, autodoc, includes)."""

    has_content = True
    optional_arguments = 99
    final_argument_whitespace = True
    option_spec = None  # any option

    def run(self) -> list[nodes.Node]:
        return []


class Nested(Directive):
    """A directive whose content is ordinary body text (containers, tabs, only, API descriptions): the
    arguments, if any, become a paragraph (an API signature as code), the content is parsed."""

    has_content = True
    optional_arguments = 99
    final_argument_whitespace = True
    option_spec = None

    def run(self) -> list[nodes.Node]:
        out: list[nodes.Node] = []
        if self.arguments and ":" in self.name:
            out.append(nodes.literal_block(text=" ".join(self.arguments)))
        elif self.arguments and self.name in ("rubric",):
            out.append(nodes.paragraph(text=" ".join(self.arguments)))
        container = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, container)
        out.append(container)
        return out


class Glossary(Directive):
    """Sphinx's glossary: entries of one or more term lines, each followed by its indented definition, as a
    definition list whose item names all its terms ("external id, external identifier: string identifier ...")."""

    has_content = True
    option_spec = {"sorted": directives.flag}

    def run(self) -> list[nodes.Node]:
        entries: list[tuple[list[str], list[tuple[str, str, int]]]] = []
        base = min((len(line) - len(line.lstrip()) for line in self.content if line.strip()), default=0)
        for line, (source, offset) in zip(self.content, self.content.items):
            if line.strip() and not line[base].isspace():  # a term: it opens an entry unless the last line was one too
                if not entries or entries[-1][1]:
                    entries.append(([], []))
                entries[-1][0].append(line.strip())
            elif entries:
                entries[-1][1].append((line, source, offset))
        glossary = nodes.definition_list()
        for terms, lines in entries:
            indent = min((len(t) - len(t.lstrip()) for t, _, _ in lines if t.strip()), default=0)
            body = StringList([t[indent:] for t, _, _ in lines], items=[(src, at) for _, src, at in lines])
            definition = nodes.definition()
            self.state.nested_parse(body, self.content_offset, definition)
            item = nodes.definition_list_item()
            item += nodes.term(text=", ".join(terms))
            item += definition
            glossary += item
        return [glossary]


class Labelled(Directive):
    """seealso, exercise, versionadded ...: an admonition whose label is the directive's own."""

    has_content = True
    optional_arguments = 99
    final_argument_whitespace = True
    option_spec = None

    def run(self) -> list[nodes.Node]:
        node = nodes.admonition()
        label = LABELLED.get(self.name, self.name.replace("-", " ").capitalize())
        if self.arguments:
            label = f"{label} {' '.join(self.arguments)}".strip()
        node += nodes.title(text=label)
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


class CodeBlock(Directive):
    """code-block / sourcecode / code: the content as code, kept line by line."""

    has_content = True
    optional_arguments = 1
    option_spec = None

    def run(self) -> list[nodes.Node]:
        return [nodes.literal_block(text="\n".join(self.content))]


def _explicit(text: str) -> tuple[str, str]:
    """`title <target>` -> (title, target); `target` -> ("", target)."""
    match = _EXPLICIT.match(text)
    return (match.group(1).strip(), match.group(2).strip()) if match else ("", text.strip())


def _humanise(target: str) -> str:
    """A label or document path as words: 'inventory/routes/putaway-rules' -> 'putaway rules'."""
    last = target.strip("/").rsplit("/", 1)[-1]
    return " ".join(re.split(r"[-_]+", last)).strip()


def _role(name: str, rawtext: str, text: str, lineno: int, inliner: object, options: dict | None = None,
          content: list | None = None) -> tuple[list[nodes.Node], list[nodes.Node]]:
    """Every role renders to the text a reader sees (Sphinx's rendering, without the cross-reference); a menu
    selection keeps the source's own arrows ("Sales --> Configuration"): a quote of it is found in the file as
    written."""
    text = unescape(text)
    base = name.split(":")[-1].lower()
    if base == "menuselection":
        return [nodes.inline(text=" --> ".join(p.strip() for p in text.split("-->")))], []
    if base == "guilabel":
        return [nodes.inline(text=text.replace("&&", "\x00").replace("&", "").replace("\x00", "&"))], []
    if base in ("ref", "doc", "download", "term", "numref", "any", "envvar", "token", "keyword", "option"):
        title, target = _explicit(text)
        if title:
            return [nodes.inline(text=title)], []
        if base == "ref":
            node = nodes.inline(text=_humanise(target))
            node["ipai_label"] = nodes.fully_normalize_name(target)
            return [node], []
        return [nodes.inline(text=_humanise(target) if base in ("doc", "download") else target)], []
    if base in ("icon", "raw-html", "raw"):
        return [], []
    title, target = _explicit(text)
    shown = title or target
    if shown.startswith("~"):  # :class:`~odoo.models.Model` shows "Model"
        shown = shown[1:].rsplit(".", 1)[-1]
    return [nodes.literal(text=shown.lstrip("!"))], []


def _register(text: str) -> None:
    """Give every role and directive the text names a rendering (unknown ones too: Sphinx extensions)."""
    with _LOCK:
        for name in set(_ROLE_NAME.findall(text)):
            if name not in roles._roles:  # type: ignore[attr-defined]
                roles.register_local_role(name, _role)
        for name in set(_DIRECTIVE_NAME.findall(text)):
            key = name.lower()
            if key in directives._directives or key in _KNOWN_DIRECTIVES:  # type: ignore[attr-defined]
                continue
            directives.register_directive(name, Dropped if name.startswith("auto") else Nested)


_ROLES = ("menuselection", "guilabel", "ref", "doc", "download", "term", "numref", "abbr", "kbd", "command",
          "file", "samp", "code", "class", "func", "meth", "attr", "mod", "data", "exc", "obj", "option",
          "envvar", "dfn", "icon", "math", "program", "regexp", "mailheader", "mimetype", "makevar", "keyword")
for _name in _ROLES:
    roles.register_local_role(_name, _role)
for _name in DROPPED:
    directives.register_directive(_name, Dropped)
for _name in LABELLED:
    directives.register_directive(_name, Labelled)
for _name in CODE:
    directives.register_directive(_name, CodeBlock)
directives.register_directive("glossary", Glossary)
for _name in ("container", "only", "tabs", "tab", "group-tab", "code-tab", "tabbed", "switcher", "card", "cards",
              "rubric", "centered", "hlist", "ifconfig"):
    directives.register_directive(_name, Nested)
_KNOWN_DIRECTIVES = frozenset(("image", "figure", "note", "tip", "warning", "important", "danger", "caution",
                               "attention", "hint", "error", "admonition", "topic", "sidebar", "line-block",
                               "parsed-literal", "epigraph", "highlights", "pull-quote", "compound", "table",
                               "csv-table", "list-table", "contents", "sectnum", "header", "footer", "replace",
                               "unicode", "date", "class", "title", "target-notes", "math"))
ADMONITIONS = {"note": "Note", "tip": "Tip", "warning": "Warning", "important": "Important", "danger": "Danger",
               "caution": "Caution", "attention": "Attention", "hint": "Hint", "error": "Error"}
SKIPPED_NODES = (nodes.comment, nodes.target, nodes.system_message, nodes.substitution_definition, nodes.raw,
                 nodes.docinfo, nodes.footnote, nodes.citation, nodes.pending, nodes.image)


class _Renderer:
    """Walks a doctree into blocks."""

    def __init__(self, document: nodes.document) -> None:
        self.document = document

    def text(self, node: nodes.Node) -> str:
        """Inline text as a reader sees it."""
        if isinstance(node, nodes.Text):
            return node.astext()  # without docutils' NUL marks of backslash escapes
        if isinstance(node, (nodes.system_message, nodes.footnote_reference, nodes.citation_reference,
                             nodes.target, nodes.comment, nodes.raw)):
            return ""
        if isinstance(node, nodes.image):
            return ""  # a picture: what it shows is not text (a substitution's default alt is only its name)
        if isinstance(node, nodes.problematic):
            return node.astext().strip("|_`")
        if isinstance(node, nodes.inline) and node.get("ipai_label"):
            return self._label_title(node["ipai_label"]) or node.astext()
        return "".join(self.text(child) for child in node.children)

    def _label_title(self, label: str) -> str:
        target = self.document.ids.get(self.document.nameids.get(label) or "")
        if isinstance(target, nodes.section) and target.children and isinstance(target[0], nodes.title):
            return inline(self.text(target[0]))
        return ""

    def blocks(self, node: nodes.Node, level: int = 0, marker: str = "") -> Iterator[Block]:
        for child in node.children:
            yield from self.block(child, level)

    def block(self, node: nodes.Node, level: int) -> Iterator[Block]:
        if isinstance(node, SKIPPED_NODES):
            return
        if isinstance(node, nodes.section):
            title = node[0] if node.children and isinstance(node[0], nodes.title) else None
            if title is not None:
                yield Block("heading", self.text(title), level + 1)
            for child in node.children[1 if title is not None else 0:]:
                yield from self.block(child, level + 1)
        elif isinstance(node, (nodes.paragraph, nodes.rubric, nodes.caption, nodes.attribution)):
            yield Block("paragraph", self.text(node))
        elif isinstance(node, nodes.title):  # a topic's or sidebar's title
            yield Block("paragraph", self.text(node))
        elif isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
            start = int(node.get("start", 1))
            for i, item in enumerate(node.children):
                marker = f"{start + i}. " if isinstance(node, nodes.enumerated_list) else "- "
                yield from self.item(item, level, marker)
        elif isinstance(node, (nodes.literal_block, nodes.doctest_block)):
            yield Block("code", node.astext())
        elif isinstance(node, nodes.Admonition):
            yield from self.admonition(node, level)
        elif isinstance(node, nodes.table):
            yield from self.table(node)
        elif isinstance(node, nodes.definition_list):
            for item in node.children:
                term = " ".join(inline(self.text(c)) for c in item.children if isinstance(c, (nodes.term,
                                                                                               nodes.classifier)))
                term = term.rstrip(":").rstrip()  # "Context keys:" is a term a writer ended with a colon
                body = list(self.blocks(next((c for c in item.children if isinstance(c, nodes.definition)),
                                             nodes.definition()), level))
                if body and body[0].kind == "paragraph":
                    yield Block("item", f"{term}: {body[0].text}")
                    yield from body[1:]
                else:
                    yield Block("item", term)
                    yield from body
        elif isinstance(node, nodes.field_list):
            for field in node.children:
                name, body = field[0], field[1] if len(field) > 1 else nodes.field_body()
                yield Block("item", f"{self.text(name)}: {inline(self.text(body))}")
        elif isinstance(node, nodes.line_block):
            yield Block("paragraph", " ".join(inline(self.text(line)) for line in node.traverse(nodes.line)))
        elif isinstance(node, nodes.figure):
            for child in node.children:
                if isinstance(child, (nodes.caption, nodes.legend)):
                    yield from (self.block(child, level) if isinstance(child, nodes.caption)
                                else self.blocks(child, level))
        elif isinstance(node, nodes.Element):
            yield from self.blocks(node, level)  # containers, block quotes, topics, compound ...

    def item(self, item: nodes.Node, level: int, marker: str) -> Iterator[Block]:
        children = list(self.blocks(item, level))
        if children and children[0].kind == "paragraph":
            yield Block("item", marker + children[0].text)
            yield from children[1:]
        else:
            yield from children

    def admonition(self, node: nodes.Element, level: int) -> Iterator[Block]:
        name = next((c for c in node["classes"] if c in ADMONITIONS), None)
        label = ADMONITIONS.get(name or type(node).__name__, "")
        body = node.children
        if body and isinstance(body[0], nodes.title):
            label, body = inline(self.text(body[0])), body[1:]
        inner = [b for child in body for b in self.block(child, level)]
        if inner and inner[0].kind == "paragraph" and label:
            yield Block("admonition", f"{label}: {inner[0].text}")
            yield from inner[1:]
            return
        if label and inner:
            yield Block("admonition", f"{label}:")
        yield from inner

    def table(self, node: nodes.table) -> Iterator[Block]:
        for group in node.traverse(nodes.tgroup):
            header: list[str] | None = None
            rows: list[list[str]] = []
            for part in group.children:
                if not isinstance(part, (nodes.thead, nodes.tbody)):
                    continue
                for row in part.children:
                    cells = [inline(self.text(entry)) for entry in row.children]
                    if isinstance(part, nodes.thead) and header is None:
                        header = cells
                    else:
                        rows.append(cells)
            yield from table_rows(rows, header)


def rst_blocks(text: str) -> list[Block]:
    """The blocks of a reStructuredText document."""
    _register(text)
    document = publish_doctree(text, settings_overrides=SETTINGS)
    _drop_file_metadata(document)
    return list(_Renderer(document).blocks(document))


def _drop_file_metadata(document: nodes.document) -> None:
    """A field list before anything else of the document is its metadata (`:orphan:`, `:nosearch:`,
    `:show-content:`), as Sphinx reads it, not text."""
    for child in list(document.children):
        if isinstance(child, (nodes.comment, nodes.target, nodes.substitution_definition, nodes.system_message)):
            continue
        if isinstance(child, nodes.field_list):
            document.remove(child)
        return


def parse_rst(text: str, fallback_title: str) -> tuple[str, str, list]:
    """(title, normalised text, sections) of a reStructuredText document."""
    return assemble(rst_blocks(text), fallback_title)
