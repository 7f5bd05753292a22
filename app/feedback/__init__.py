"""Feedback on answers, and the questions writers should look at (declined, or rated down)."""
