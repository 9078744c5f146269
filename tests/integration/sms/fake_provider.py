"""A stand-in for the SMS provider (there is no internet here): a real HTTP server on
127.0.0.1 that speaks the provider's Messages API and calls our webhooks back.

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic auth and the
  form fields ``To``, ``From``, ``Body``, ``StatusCallback`` answers ``201`` with the
  provider's JSON (``sid`` ``SM…``, ``status`` ``queued``), or ``401`` for wrong
  credentials, or ``503`` while ``fail_next`` is above zero;
* after accepting a message it posts signed status callbacks (``reports``, by default
  ``sent`` then ``delivered``) to the message's ``StatusCallback``;
* :meth:`post_inbound` and :meth:`post_status` post signed webhooks like the provider
  does, and a TwiML ``<Message>`` in the answer to an inbound webhook is "sent" back
  (kept in ``replies``).

Requests run in the server's threads; the lists are guarded by one lock.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

from tsunagi.channels.sms import request_signature

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
TWIML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


@dataclass
class Sent:
    sid: str
    to: str
    sender: str
    body: str
    status_callback: str | None
    auth: tuple[str, str]


@dataclass
class Report:
    status: str
    error_code: str | None = None


@dataclass
class FakeProvider:
    account_sid: str
    auth_token: str
    url: str = ""
    sent: list[Sent] = field(default_factory=list)
    requests: int = 0
    refused: int = 0
    replies: list[tuple[str, str]] = field(default_factory=list)  # (to, text) from TwiML
    callbacks: list[tuple[str, int]] = field(default_factory=list)  # (status, our answer)
    reports: list[Report] = field(default_factory=lambda: [Report("sent"), Report("delivered")])
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------- the server

    def start(self) -> FakeProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
                status, body, after = provider.handle(
                    self.path, self.headers.get("authorization", ""), dict(form)
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if after is not None:
                    threading.Thread(target=after, daemon=True).start()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def handle(
        self, path: str, authorization: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any], Any]:
        match = MESSAGES.match(path)
        if match is None:
            return 404, {"code": 20404, "message": "not found", "status": 404}, None
        with self.lock:
            self.requests += 1
            auth = _basic(authorization)
            if auth != (self.account_sid, self.auth_token) or match["sid"] != self.account_sid:
                self.refused += 1
                return 401, {"code": 20003, "message": "Authenticate", "status": 401}, None
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"code": 20503, "message": "Service unavailable", "status": 503}, None
            if not form.get("To") or not form.get("From") or not form.get("Body"):
                return (
                    400,
                    {"code": 21602, "message": "Message body is required", "status": 400},
                    None,
                )
            sid = "SM" + uuid.uuid4().hex
            sent = Sent(
                sid, form["To"], form["From"], form["Body"], form.get("StatusCallback"), auth
            )
            self.sent.append(sent)
            reports = list(self.reports)
        body = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": sent.to,
            "from": sent.sender,
            "body": sent.body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "error_code": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

        def report() -> None:
            time.sleep(0.05)
            for item in reports:
                if sent.status_callback:
                    try:
                        self.post_status(sent.status_callback, sent, item.status, item.error_code)
                    except httpx.HTTPError:  # the app under test stopped first
                        return

        return 201, body, report

    # ---------------------------------------------------------------- webhooks to us

    def sign(self, url: str, form: dict[str, str], token: str | None = None) -> str:
        return request_signature(token or self.auth_token, url, list(form.items()))

    def post_status(
        self,
        url: str,
        sent: Sent,
        status: str,
        error_code: str | None = None,
        *,
        token: str | None = None,
    ) -> httpx.Response:
        """Post a status callback, signed with the account's token (or ``token``)."""
        form = {
            "MessageSid": sent.sid,
            "SmsSid": sent.sid,
            "AccountSid": self.account_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": sent.to,
            "From": sent.sender,
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            form["ErrorCode"] = error_code
        signature = self.sign(url, form, token)
        response = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature})
        with self.lock:
            self.callbacks.append((status, response.status_code))
        return response

    def post_inbound(
        self,
        url: str,
        *,
        sender: str,
        to: str,
        body: str,
        sid: str | None = None,
        signature: str | None = "sign",
    ) -> httpx.Response:
        """Post a received message as the provider would; ``signature=None`` sends none,
        any other string than ``"sign"`` is sent as the (wrong) signature."""
        form = {
            "MessageSid": sid or "SM" + uuid.uuid4().hex,
            "SmsMessageSid": sid or "",
            "AccountSid": self.account_sid,
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "FromCountry": "JP",
            "ApiVersion": "2010-04-01",
        }
        headers = {}
        if signature == "sign":
            headers["X-Twilio-Signature"] = self.sign(url, form)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        response = httpx.post(url, data=form, headers=headers)
        if response.status_code == 200:
            for text in TWIML_MESSAGE.findall(response.text):
                with self.lock:
                    self.replies.append((sender, _unescape(text)))
        return response


def _basic(header: str) -> tuple[str, str]:
    if not header.lower().startswith("basic "):
        return ("", "")
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return (user, password)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
