"""Webhook signatures: HMAC-SHA256 (hex) over "{timestamp}.{raw body}", and GitHub's sha256= header."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from sql.errors import Unauthorized

TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The x-ipai-signature value for a body sent at `timestamp` (Unix seconds)."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(secrets: Sequence[str], timestamp: str | None, signature: str | None, body: bytes, now: float) -> None:
    """Accept if any active secret signs the body and the timestamp is within 5 minutes of now."""
    if not timestamp or not signature:
        raise Unauthorized("x-ipai-timestamp and x-ipai-signature headers are required")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Unauthorized("x-ipai-timestamp must be Unix seconds (digits only)")
    sent = int(timestamp)
    if abs(now - sent) > TOLERANCE_SECONDS:
        raise Unauthorized(f"x-ipai-timestamp is {int(now - sent)} s from the server's clock (at most "
                           f"{TOLERANCE_SECONDS} s allowed)")
    if not any(hmac.compare_digest(sign(secret, timestamp, body), signature.strip().lower()) for secret in secrets):
        raise Unauthorized("the signature does not match the body for any active secret of this instance")


def verify_github(secrets: Sequence[str], header: str | None, body: bytes) -> None:
    """GitHub's X-Hub-Signature-256: sha256=<hex HMAC of the raw body>."""
    if not header or not header.startswith("sha256="):
        raise Unauthorized("X-Hub-Signature-256 header (sha256=...) is required")
    given = header.removeprefix("sha256=").strip().lower()
    if not any(hmac.compare_digest(hmac.new(s.encode(), body, hashlib.sha256).hexdigest(), given) for s in secrets):
        raise Unauthorized("the X-Hub-Signature-256 signature does not match the body")
