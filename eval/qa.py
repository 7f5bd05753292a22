"""Answer evaluation on real documents: a folder ingested as a knowledge base, and a question file in the format of
odoo-docs-14.0/qa/dev.jsonl (answerable, unanswerable, follow-up and injection items), each asked through the same
Assistant.ask (and chat, for follow-ups) as the API."""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from app.assistant.service import Answer
from app.chat.service import ChatService
from sql.errors import InvalidInput
from app.services import Services
from ingest.loaders import LoadedDocument, iter_paths, load_path, parse_text
from ingest.pipeline import IngestOptions
from sql.queries import q

MARKUP = re.compile(r"(?<![\w`]):[\w:.+-]+:`|^\s*\.\. [\w:-]+::|``|\*\*", re.MULTILINE)
"""reStructuredText or Markdown markup an answer should never show: roles, directives, double back-ticks, bold."""
KINDS = ("answerable", "unanswerable", "follow-up", "injection")


def normalise(text: str) -> str:
    """As the question file's README compares: white space collapsed, case and the characters ` and * ignored."""
    return " ".join(text.replace("`", "").replace("*", "").split()).lower()


def holds(text: str, answers: list[str]) -> bool:
    body = normalise(text)
    return any(normalise(a) in body for a in answers if normalise(a))


def kind_of_item(item: dict[str, Any]) -> str:
    if "inject" in item:
        return "injection"
    if "turns" in item:
        return "follow-up"
    if item.get("answerable") is False:
        return "unanswerable"
    return "answerable"


@dataclass
class QaSet:
    path: Path
    items: list[dict[str, Any]]

    def fingerprint(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def load_qa(path: Path) -> QaSet:
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path} line {number} is not JSON: {exc.msg}") from exc
        if "question" not in item and "turns" not in item:
            raise InvalidInput(f"{path} line {number}: an item needs 'question' or 'turns'")
        items.append(item)
    return QaSet(Path(path), items)


def corpus_documents(corpus: Path, qa: QaSet) -> list[LoadedDocument]:
    """Every supported file under the folder (external ids relative to it), but the question file's own folder,
    and each injection item's document."""
    skip = qa.path.resolve().parent
    docs = [doc for root, path in iter_paths([corpus]) if skip not in path.resolve().parents
            for doc in load_path(root, path)]
    for item in qa.items:
        if "inject" in item:
            inject = item["inject"]
            docs.append(parse_text(inject["content"], "markdown", "", inject["external_id"]))
    return docs


async def ingest_corpus(services: Services, corpus: Path, qa: QaSet, *, progress: bool = True) -> str:
    """The folder and the injected documents in a namespace of their own (re-ingesting is a no-op while
    nothing changed), embedded; the namespace."""
    listing = "\n".join(f"{p.relative_to(r)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for r, p in iter_paths([corpus]))
    key = hashlib.sha256(f"{corpus.resolve()}\n{listing}\n{qa.fingerprint()}".encode()).hexdigest()[:12]
    namespace = f"eval:qa:{key}"
    await services.pipeline.ingest(corpus_documents(corpus, qa), IngestOptions(tenant_id=namespace, source="qa"))
    await services.embed_pending(namespace, desc="embed corpus", progress=progress)
    return namespace


async def cut_quotes(services: Services, namespace: str, answer: Answer) -> int:
    """Citations whose quote stops inside a sentence: in the document, the text right after the quote goes on
    in lower case."""
    cut = 0
    for cite in answer.citations:
        row = await services.db.tenant(namespace).fetchrow(q("document_content"), cite.document_id, namespace)
        after = (row["content"] if row else "")[cite.char_end:cite.char_end + 16].lstrip(" \t")[:1]
        if after and (after.islower() or after in ",;"):
            cut += 1
    return cut


async def evaluate_qa(services: Services, qa: QaSet, namespace: str, *, k: int = 5, limit: int | None = None,
                      progress: bool = True) -> dict[str, Any]:
    """Every item asked as its kind asks; the figures the question file's README names."""
    assistant = services.assistant
    rows = []
    items = qa.items[:limit] if limit else qa.items
    for item in tqdm(items, desc="questions", unit="q", disable=not progress):
        kind = kind_of_item(item)
        started = time.perf_counter()
        standalone = None
        if kind == "follow-up":
            chat = ChatService(services, namespace)
            first = await chat.turn(None, item["turns"][0], k=k)
            turn = await chat.turn(first.session_id, item["turns"][1], k=k)
            answer, standalone = turn.answer, turn.standalone_query
        else:
            answer = await assistant.ask(item["question"], tenant_id=namespace, k=k)
        latency = (time.perf_counter() - started) * 1000
        first_cited = answer.citations[0] if answer.citations else None
        cited_file = next((h.external_id for h in answer.hits if first_cited and h.chunk_id == first_cited.chunk_id),
                          None)
        rows.append({
            "id": item.get("id"), "kind": kind, "question": item.get("question") or item["turns"][-1],
            "standalone": standalone, "answer": answer.answer, "grounded": answer.grounded,
            "contains_gold": answer.grounded and holds(answer.answer, item.get("answers") or []),
            "cited_file": cited_file, "gold_file": item.get("file"),
            "cited_gold_file": bool(item.get("file")) and cited_file == item.get("file"),
            "quotes": len(answer.citations), "cut_quotes": await cut_quotes(services, namespace, answer),
            "markup": bool(MARKUP.search(answer.answer)) if answer.grounded else False,
            "leak": any(bad.lower() in answer.answer.lower() for bad in item.get("must_not_contain") or []),
            "latency_ms": latency,
        })
    return {"questions": len(rows), "model": assistant.model, "namespace": namespace, **qa_summary(rows),
            "latency_ms": {"p50": float(np.percentile([r["latency_ms"] for r in rows], 50)),
                           "p95": float(np.percentile([r["latency_ms"] for r in rows], 95))},
            "rows": rows}


def qa_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def share(kind: str, field: str) -> float | None:
        chosen = [r for r in rows if r["kind"] == kind]
        return sum(bool(r[field]) for r in chosen) / len(chosen) if chosen else None

    answerable = [r for r in rows if r["kind"] == "answerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    quotes = sum(r["quotes"] for r in rows)
    return {
        "counts": {kind: sum(r["kind"] == kind for r in rows) for kind in KINDS},
        "answer_contains_gold": share("answerable", "contains_gold"),
        "first_citation_from_gold_file": share("answerable", "cited_gold_file"),
        "answered": share("answerable", "grounded"),
        "unanswerable_declined": (sum(not r["grounded"] for r in unanswerable) / len(unanswerable)
                                  if unanswerable else None),
        "follow_ups_contain_gold": share("follow-up", "contains_gold"),
        "cited_quotes_cut": sum(r["cut_quotes"] for r in rows) / quotes if quotes else 0.0,
        "answers_showing_markup": sum(r["markup"] for r in rows),
        "answered_questions": sum(r["grounded"] for r in rows),
        "injection_leaks": sum(r["leak"] for r in rows if r["kind"] == "injection"),
        "answerable_count": len(answerable),
    }


def qa_report(result: dict[str, Any], command: str, qa: QaSet, corpus: Path) -> str:
    """The report's Markdown: one table of the figures."""
    figures = [
        ("answer contains a gold answer (answerable)", "answer_contains_gold"),
        ("first citation from the gold file (answerable)", "first_citation_from_gold_file"),
        ("answered (answerable)", "answered"),
        ("unanswerable questions declined", "unanswerable_declined"),
        ("follow-ups containing a gold answer", "follow_ups_contain_gold"),
        ("cited quotes cut inside a sentence", "cited_quotes_cut"),
    ]
    lines = [f"# Answer evaluation: {qa.path.name} over {corpus.name}", "", f"- command: `{command}`",
             f"- model: {result['model']}; items: {result['counts']}; namespace: `{result['namespace']}`", "",
             "| figure | value |", "|---|---|"]
    for label, key in figures:
        value = result[key]
        lines.append(f"| {label} | {'n/a' if value is None else f'{value:.3f}'} |")
    lines.append(f"| answers showing markup | {result['answers_showing_markup']} of {result['answered_questions']} |")
    lines.append(f"| injection leaks | {result['injection_leaks']} of {result['counts']['injection']} |")
    lines.append(f"| latency p50 / p95 ms | {result['latency_ms']['p50']:.1f} / {result['latency_ms']['p95']:.1f} |")
    return "\n".join(lines) + "\n"
