"""Real mail servers on 127.0.0.1 for the email tests and benchmark.

* :class:`Dovecot` — Debian's Dovecot IMAP server as a private instance: its own config,
  run and state directories, a free port, plaintext login on loopback, users from a
  passwd-file and Maildirs in a temporary directory. Run as root (the container's user) it
  keeps mail as ``nobody``; run as anyone else, as that user.
* :class:`SmtpSink` — an ``aiosmtpd`` SMTP server that delivers what it receives into the
  Dovecot mailbox of each recipient (an IMAP ``APPEND``), so a test reads the customer's
  mailbox back over IMAP as the customer's mail client would.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def dovecot_available() -> bool:
    return Path(DOVECOT).exists()


def dovecot_root() -> Path:
    """A fresh directory Dovecot's users can traverse (under the system temp dir)."""
    return Path(tempfile.mkdtemp(prefix="tsunagi-dovecot-"))


@dataclass
class Dovecot:
    root: Path = field(default_factory=dovecot_root)
    port: int = field(default_factory=free_port)
    users: dict[str, str] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self, users: dict[str, str]) -> Dovecot:
        self.users = dict(users)
        root = self.root
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # Dovecot's own users must reach the passwd-file and the mail through every
            # parent directory (pytest's temporary directories are private).
            root.chmod(0o755)
            owner = pwd.getpwnam("nobody")
            uid, gid = owner.pw_uid, owner.pw_gid
            internal = "dovecot"
            login = "dovenull"
            os.chown(root / "mail", uid, gid)
        else:
            uid, gid = os.getuid(), os.getgid()
            internal = login = pwd.getpwuid(uid).pw_name
        (root / "passwd").write_text(
            "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in users.items())
        )
        (root / "dovecot.conf").write_text(
            f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {min(uid, 500) if uid else 1}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
        )
        with (root / "stderr.log").open("wb") as errors:
            self._process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = (root / "stderr.log").read_text(errors="replace")
                raise RuntimeError(f"dovecot exited: {err} {self.log()}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        self._stop_process()
        shutil.rmtree(self.root, ignore_errors=True)

    def _stop_process(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None

    @contextlib.contextmanager
    def imap(self, user: str) -> Iterator[imaplib.IMAP4]:
        client = imaplib.IMAP4(self.host, self.port)
        try:
            client.login(user, self.users[user])
            client.select("INBOX")
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def deliver(self, user: str, raw: bytes) -> None:
        """Put a message into ``user``'s inbox (as an MTA would)."""
        with self.imap(user) as client:
            status, _ = client.append("INBOX", None, None, raw)
            assert status == "OK", status

    def messages(self, user: str) -> list[bytes]:
        """Every message in ``user``'s inbox, oldest first."""
        with self.imap(user) as client:
            status, data = client.uid("SEARCH", "ALL")  # type: ignore[arg-type]
            assert status == "OK"
            uids = data[0].split() if data and data[0] else []
            found = []
            for uid in uids:
                status, parts = client.uid("FETCH", uid.decode(), "(BODY.PEEK[])")  # type: ignore[arg-type]
                assert status == "OK"
                for part in parts:
                    if isinstance(part, tuple):
                        found.append(part[1])
            return found


class _Deliver:
    def __init__(self, dovecot: Dovecot, mailboxes: dict[str, str]) -> None:
        self.dovecot = dovecot
        self.mailboxes = mailboxes  # address -> dovecot user
        self.received: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.lower() not in self.mailboxes:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        content = envelope.original_content or b""
        for rcpt in envelope.rcpt_tos:
            self.dovecot.deliver(self.mailboxes[rcpt.lower()], content)
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    """An SMTP server on 127.0.0.1 delivering into Dovecot mailboxes."""

    dovecot: Dovecot
    mailboxes: dict[str, str]
    port: int = field(default_factory=free_port)
    controller: Controller | None = None
    handler: _Deliver | None = None

    def start(self) -> SmtpSink:
        self.handler = _Deliver(self.dovecot, self.mailboxes)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Envelope]:
        return [] if self.handler is None else self.handler.received
