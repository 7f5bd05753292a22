"""`ipai-rag eval ...` and `ipai-rag bench ...` sub-commands."""
from __future__ import annotations

import argparse


def add_eval_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Registered by app.cli; filled in by the evaluation harness."""
    return None
