"""GitHub deliveries as typed events: the event header and the payload's action make the type routes match
('pull_request.opened', 'push', 'issues.closed', 'workflow_run.completed'), and a summary names what changed."""
from __future__ import annotations

from typing import Any

GITHUB_AGGREGATE = "github.repository"


def event_type(header: str | None, payload: dict[str, Any]) -> str:
    """'pull_request.opened' from X-GitHub-Event and the payload's action; the header alone without one."""
    kind = (header or "unknown").strip() or "unknown"
    action = payload.get("action")
    return f"{kind}.{action}" if isinstance(action, str) and action else kind


def _get(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def summary(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What a push, pull request, issue or workflow run delivery says, in a few typed fields."""
    base = kind.split(".", 1)[0]
    repository = _get(payload, "repository", "full_name")
    if base == "push":
        commits = payload.get("commits")
        fields = {"ref": payload.get("ref"), "commits": len(commits) if isinstance(commits, list) else 0,
                  "pusher": _get(payload, "pusher", "name"), "head": _get(payload, "head_commit", "id")}
    elif base == "pull_request":
        pr = payload.get("pull_request")
        fields = {"number": _get(pr, "number") or payload.get("number"), "title": _get(pr, "title"),
                  "state": _get(pr, "state"), "merged": _get(pr, "merged"), "author": _get(pr, "user", "login"),
                  "url": _get(pr, "html_url")}
    elif base == "issues":
        fields = {"number": _get(payload, "issue", "number"), "title": _get(payload, "issue", "title"),
                  "state": _get(payload, "issue", "state"), "author": _get(payload, "issue", "user", "login"),
                  "url": _get(payload, "issue", "html_url")}
    elif base == "workflow_run":
        fields = {"name": _get(payload, "workflow_run", "name"), "status": _get(payload, "workflow_run", "status"),
                  "conclusion": _get(payload, "workflow_run", "conclusion"),
                  "branch": _get(payload, "workflow_run", "head_branch"), "url": _get(payload, "workflow_run", "html_url")}
    else:
        fields = {}
    return {"type": kind, "repository": repository,
            **{k: v for k, v in fields.items() if v is not None and not isinstance(v, (dict, list))}}


def describe(kind: str, payload: dict[str, Any]) -> str:
    """One line for the audit log."""
    s = summary(kind, payload)
    detail = " ".join(f"{k}={v}" for k, v in s.items() if k not in ("type", "repository"))
    return f"github {kind} on {s.get('repository') or 'unknown'}" + (f": {detail}" if detail else "")
