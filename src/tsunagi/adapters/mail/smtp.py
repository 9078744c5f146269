"""Sending through SMTP with the standard library's ``smtplib`` (in a worker thread).

A refusal the server calls permanent (a 5xx reply) is :class:`PermanentSendError`: sending
the same message again cannot help. Everything else (no connection, a 4xx reply, a
timeout) is :class:`TransientSendError`, and the outbox tries again later.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass


class TransientSendError(Exception):
    pass


class PermanentSendError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: str = "starttls"  # ssl | starttls | none
    timeout_s: float = 30.0


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, raw: bytes, *, mail_from: str, to: list[str]) -> None:
        await asyncio.to_thread(self._send, raw, mail_from, to)

    def _send(self, raw: bytes, mail_from: str, to: list[str]) -> None:
        s = self._settings
        try:
            with self._connect() as client:
                if s.username and s.password is not None:
                    client.login(s.username, s.password)
                refused = client.sendmail(mail_from, to, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _classified(exc.recipients) from exc
        except smtplib.SMTPResponseException as exc:
            detail = exc.smtp_error
            text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
            error = f"SMTP {exc.smtp_code} {text}"
            if 500 <= exc.smtp_code < 600:
                raise PermanentSendError(error) from exc
            raise TransientSendError(error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientSendError(f"SMTP {s.host}:{s.port}: {exc}") from exc
        if refused:
            raise _classified(refused)

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        if s.tls == "ssl":
            return smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context()
            )
        client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        if s.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
        return client


def _classified(refused: dict[str, tuple[int, bytes]]) -> Exception:
    codes = [code for code, _ in refused.values()]
    detail = "; ".join(
        f"{rcpt}: {code} {msg.decode(errors='replace')}" for rcpt, (code, msg) in refused.items()
    )
    if codes and all(500 <= code < 600 for code in codes):
        return PermanentSendError(f"refused: {detail}")
    return TransientSendError(f"refused: {detail}")
