"""Every answer the assistant gives is recorded (declined ones too), so that feedback can refer to it and
writers can see which questions the knowledge base answers badly."""
from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from sql.db import Db
from sql.queries import q

if TYPE_CHECKING:
    from app.assistant.service import Answer

MAX_RETRIEVED = 10


class AnswerLog:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def record(self, tenant_id: str, question: str, search_query: str | None, answer: Answer) -> int:
        """The answer's id (what feedback names)."""
        retrieved = [{"chunk_id": h.chunk_id, "document_id": h.document_id, "title": h.title,
                      "section_path": h.section_path, "score": h.score, "content": h.content[:500]}
                     for h in answer.hits[:MAX_RETRIEVED]]
        return await self.db.tenant(tenant_id).fetchval(
            q("answer_record"), tenant_id, question, search_query if search_query != question else None,
            answer.answer, answer.grounded, answer.model, [asdict(c) for c in answer.citations], retrieved)
