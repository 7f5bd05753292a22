"""Email alerts: one message per delivery through the SMTP server of SMTP_URL (the standard library's client;
STARTTLS when the server offers it, or smtps:// for TLS from the start)."""
from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from app.settings import OdooSettings

SMTP_TIMEOUT_SECONDS = 30


def message(sender: str, to: str, body: dict[str, Any]) -> EmailMessage:
    mail = EmailMessage()
    what = f"{body['event_type']} on {body['aggregate_type']}" + (f" {body['aggregate_id']}" if body.get("aggregate_id") else "")
    mail["Subject"] = f"[{body.get('severity', 'info')}] {body['route']}: {what}"
    mail["From"] = sender
    mail["To"] = to
    mail["X-Ipai-Delivery"] = body["delivery_id"]
    mail.set_content(f"{what}\n\nroute: {body['route']}\nsource: {body['source']}\ndelivery: {body['delivery_id']}"
                     f"\n\n{json.dumps(body.get('payload'), indent=2, ensure_ascii=False, default=str)}\n")
    return mail


def send_mail(settings: OdooSettings, to: str, body: dict[str, Any]) -> None:
    """Send, or raise (the delivery is retried): SMTP_URL unset, the server down or refusing."""
    if not settings.smtp_url:
        raise RuntimeError("SMTP_URL is not set: email alerts cannot be sent")
    url = urlsplit(settings.smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise RuntimeError("SMTP_URL must be smtp://[user:password@]host[:port] or smtps://...")
    client = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with client(url.hostname, url.port or (465 if url.scheme == "smtps" else 25), timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if url.scheme == "smtp":
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message(settings.smtp_from, to, body))
