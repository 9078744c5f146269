"""An IMAP mailbox read with ``aioimaplib``: UIDs after a cursor, and IDLE to wait.

Messages are fetched with ``BODY.PEEK[]`` so reading never marks them seen or changes the
mailbox: the ingest's cursor (UIDVALIDITY and the last UID handled) is what remembers
progress, and the database (the Message-ID is unique) is what prevents duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass
from types import TracebackType

import aioimaplib  # type: ignore[import-untyped]

_FETCH = re.compile(rb"^\d+ FETCH \(.*UID (\d+)")
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class MailServerError(Exception):
    """The mail server could not be reached or refused what was asked."""


@dataclass(frozen=True, slots=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str
    tls: str = "ssl"  # ssl | none
    folder: str = "INBOX"
    timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Fetched:
    uid: int
    raw: bytes


class ImapMailbox:
    """One logged-in session on one folder (``async with ImapMailbox(settings) as box``)."""

    def __init__(self, settings: ImapSettings) -> None:
        self._settings = settings
        self._client: aioimaplib.IMAP4 | None = None
        self.uidvalidity = 0

    async def __aenter__(self) -> ImapMailbox:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        s = self._settings
        try:
            if s.tls == "ssl":
                client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                    host=s.host, port=s.port, timeout=s.timeout_s,
                    ssl_context=ssl.create_default_context(),
                )  # fmt: skip
            else:
                client = aioimaplib.IMAP4(host=s.host, port=s.port, timeout=s.timeout_s)
            self._client = client
            await client.wait_hello_from_server()
            _ok(await client.login(s.username, s.password), "login")
            selected = _ok(await client.select(s.folder), f"select {s.folder}")
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            await self.close()
            raise MailServerError(f"IMAP {s.host}:{s.port}: {exc}") from exc
        except MailServerError:
            await self.close()
            raise
        for line in selected.lines:
            found = _UIDVALIDITY.search(bytes(line))
            if found:
                self.uidvalidity = int(found.group(1))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            with contextlib.suppress(Exception):
                if client.has_pending_idle():
                    client.idle_done()
                await asyncio.wait_for(client.logout(), 5)
        finally:
            # Nothing of the session may outlive it (a closed loop would find it pending).
            for task in list(getattr(client, "tasks", ())):
                task.cancel()
            transport = getattr(client.protocol, "transport", None)
            if transport is not None:
                transport.close()

    @property
    def supports_idle(self) -> bool:
        return self._client is not None and self._client.has_capability("IDLE")

    def _live(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise MailServerError("the mailbox is not open")
        return self._client

    async def fetch_after(self, last_uid: int, *, limit: int = 100) -> list[Fetched]:
        """Up to ``limit`` messages with a UID above ``last_uid``, oldest first."""
        client = self._live()
        try:
            found = _ok(await client.uid_search(f"UID {last_uid + 1}:*"), "search")
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise MailServerError(f"IMAP search: {exc}") from exc
        uids = sorted(
            uid
            for line in found.lines[:-1]
            for token in bytes(line).split()
            if token.isdigit() and (uid := int(token)) > last_uid
        )[:limit]
        if not uids:
            return []
        wanted = ",".join(map(str, uids))
        try:
            response = _ok(await client.uid("fetch", wanted, "(UID BODY.PEEK[])"), "fetch")
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise MailServerError(f"IMAP fetch: {exc}") from exc
        return _fetched(response.lines)

    async def wait_for_news(self, timeout_s: float) -> bool:
        """Wait (IMAP IDLE) until the server announces new mail or ``timeout_s`` passes;
        True when something came. Without IDLE, just waits."""
        client = self._live()
        if not self.supports_idle:
            await asyncio.sleep(timeout_s)
            return False
        idle = await client.idle_start(timeout=timeout_s + 5)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        news = False
        try:
            while (left := deadline - loop.time()) > 0:
                try:
                    pushed = await client.wait_server_push(timeout=left)
                except TimeoutError:
                    break
                lines = pushed if isinstance(pushed, list) else [pushed]
                if any(
                    b"EXISTS" in bytes(line)
                    for line in lines
                    if isinstance(line, bytes | bytearray)
                ):
                    news = True
                    break
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
        finally:
            client.idle_done()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(idle, 10)
        return news


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        detail = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
        raise MailServerError(f"IMAP {what} refused: {detail}")
    return response


def _fetched(lines: list[bytes | bytearray]) -> list[Fetched]:
    found: list[Fetched] = []
    uid: int | None = None
    for line in lines:
        if isinstance(line, bytearray):
            if uid is not None:
                found.append(Fetched(uid, bytes(line)))
                uid = None
            continue
        match = _FETCH.match(line)
        if match:
            uid = int(match.group(1))
    return sorted(found, key=lambda item: item.uid)
