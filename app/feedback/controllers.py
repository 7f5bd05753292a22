"""POST/GET /v1/feedback and GET /v1/feedback/unanswered."""
from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import Parameter

from app.feedback.schemas import FeedbackIn, FeedbackOut, FeedbackPage, UnansweredOut, UnansweredPage
from app.params import row_id, stated_param
from app.security.auth import acting_user
from app.security.keys import Principal
from app.services import Services
from sql.errors import InvalidInput, NotFound
from sql.queries import q
from sql.values import check_text

RATINGS = {"up": 1, "down": -1}


class FeedbackController(Controller):
    path = "/v1/feedback"
    tags = ["feedback"]

    @post("", operation_id="giveFeedback", status_code=201, opt={"scope": "ask"})
    async def give(self, data: FeedbackIn, services: Services, tenant_id: str, principal: Principal) -> FeedbackOut:
        """Rate an answer up or down, with an optional comment."""
        user_id = acting_user(principal, data.user_id)
        comment = check_text(data.comment, "comment", 4000) if data.comment else None
        tenant = services.db.tenant(tenant_id)
        row = await tenant.fetchrow(q("feedback_add"), tenant_id, data.answer_id, RATINGS[data.rating], comment,
                                    user_id)
        if row is None:
            raise NotFound(f"answer {data.answer_id} does not exist")
        page = await tenant.fetch(q("feedback_page"), tenant_id, None, row["id"] + 1, 1)
        return _out(page[0])

    @get("", operation_id="listFeedback", opt={"scope": "kb:read"})
    async def list_feedback(
        self, services: Services, tenant_id: str,
        rating: str | None = stated_param("only ratings of this kind", default=None, enum=list(RATINGS)),
        cursor: int | None = row_id("id before which the page starts (next_cursor)", default=None),
        limit: int = Parameter(default=50, ge=1, le=500),
    ) -> FeedbackPage:
        """Feedback on the tenant's answers, newest first, each with the answer it rates."""
        if rating is not None and rating not in RATINGS:
            raise InvalidInput("rating must be up or down")
        rows = await services.db.tenant(tenant_id).fetch(
            q("feedback_page"), tenant_id, RATINGS.get(rating) if rating else None, cursor, limit)
        return FeedbackPage([_out(r) for r in rows], rows[-1]["id"] if len(rows) == limit else None)

    @get("/unanswered", operation_id="unanswered", opt={"scope": "kb:read"})
    async def unanswered(
        self, services: Services, tenant_id: str,
        cursor: int | None = row_id("answer id before which the page starts (next_cursor)", default=None),
        limit: int = Parameter(default=50, ge=1, le=500),
    ) -> UnansweredPage:
        """Declined questions and answers rated down, newest first, with what retrieval found: what to add."""
        rows = await services.db.tenant(tenant_id).fetch(q("unanswered_page"), tenant_id, cursor, limit)
        items = [UnansweredOut(**dict(r)) for r in rows]
        return UnansweredPage(items, rows[-1]["answer_id"] if len(rows) == limit else None)


def _out(row: object) -> FeedbackOut:
    data = dict(row)  # type: ignore[call-overload]
    data["rating"] = "up" if data["rating"] > 0 else "down"
    return FeedbackOut(**data)
