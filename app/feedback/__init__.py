"""Feedback on answers, and the questions writers should look at (declined, or rated down)."""
from __future__ import annotations

from app.feedback.controllers import FeedbackController

__all__ = ["FeedbackController"]
