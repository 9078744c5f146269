"""Email as a written channel: reading and writing MIME, threading, loops — pure.

* :func:`parse_email` turns the bytes of a received message into an :class:`InboundEmail`
  and never raises: a message the parser finds defects in is still returned, flagged
  ``malformed``, so the caller stores it (and its original) instead of dropping it.
* Text is what staff read. HTML is kept only after an allow-list sanitiser (``nh3``) and
  is served inert (sandboxed, no script); a message with HTML only gets its text from the
  HTML.
* Threading follows RFC 5322: a reply names its parent in ``In-Reply-To`` and the chain in
  ``References``; :func:`thread_ids` lists the ids to look for, nearest first.
* :func:`automatic_reason` tells a message that must never get an automatic answer
  (RFC 3834 ``Auto-Submitted``, ``Precedence``, mailing lists, bounces).
* Signatures and templates are filled by substitution only (``tsunagi.knowledge.scripts``).

Settings, events and the outbox state are in :mod:`tsunagi.channels.email_settings`.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses
from html.parser import HTMLParser

import nh3

from tsunagi.channels.text import clean_filename
from tsunagi.domain.errors import InvalidInputError
from tsunagi.knowledge.scripts import fill

MAX_TEXT = 200_000  # characters of text kept from one email (the original is kept whole)
MAX_IDS = 20  # ids of a References chain looked at / written
MAX_ID_LENGTH = 255  # the external_id column
_ID = re.compile(r"<[^<>\s]+>")

# ----------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    filename: str
    declared_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class InboundEmail:
    message_id: str  # "<id@host>"; made from the bytes' hash when the message has none
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str | None
    from_address: str | None
    from_name: str | None
    reply_to: str | None
    to: tuple[str, ...]
    text: str | None
    html: str | None  # sanitised
    attachments: tuple[InboundAttachment, ...]
    automatic: str | None  # why no automatic answer may go to it (None: it may)
    malformed: bool
    defects: tuple[str, ...] = ()
    flags: tuple[str, ...] = field(default=())

    @property
    def reply_address(self) -> str | None:
        return self.reply_to or self.from_address


def synthetic_id(raw: bytes) -> str:
    """A stable id for a message without one, so fetching it again finds it again."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.invalid>"


def parse_email(raw: bytes) -> InboundEmail:
    """Read a received message; never raises (see the module's docstring)."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # a message must never be lost to a parser bug
        return _unreadable(raw, type(exc).__name__)
    defects: list[str] = []
    header = _HeaderReader(message, defects)
    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[InboundAttachment] = []
    try:
        _walk(message, text_parts, html_parts, attachments, defects)
    except Exception as exc:
        defects.append(type(exc).__name__)
    defects.extend(type(d).__name__ for d in message.defects)
    html = "\n".join(html_parts) if html_parts else None
    text = "\n".join(text_parts) if text_parts else (html_to_text(html) if html else None)
    if not text_parts and not html_parts and not attachments and not message.is_multipart():
        text = _best_effort_text(raw)
    flags: list[str] = []
    if defects:
        flags.append("malformed")
    clipped = _clip(text)
    if text is not None and len(text.strip()) > MAX_TEXT:
        flags.append("truncated")
    from_name, from_address = header.address("From")
    return InboundEmail(
        message_id=header.first_id("Message-ID") or synthetic_id(raw),
        in_reply_to=header.ids("In-Reply-To"),
        references=header.ids("References"),
        subject=header.text("Subject"),
        from_address=from_address,
        from_name=from_name,
        reply_to=header.address("Reply-To")[1],
        to=header.addresses("To", "Cc"),
        text=clipped,
        html=sanitise_html(html) if html else None,
        attachments=tuple(attachments),
        automatic=automatic_reason(message, from_address),
        malformed=bool(defects),
        defects=tuple(dict.fromkeys(defects)),
        flags=tuple(flags),
    )


def _unreadable(raw: bytes, why: str) -> InboundEmail:
    return InboundEmail(
        message_id=synthetic_id(raw),
        in_reply_to=(),
        references=(),
        subject=None,
        from_address=None,
        from_name=None,
        reply_to=None,
        to=(),
        text=_best_effort_text(raw),
        html=None,
        attachments=(),
        automatic="unreadable",
        malformed=True,
        defects=(why,),
        flags=("malformed",),
    )


def _best_effort_text(raw: bytes) -> str | None:
    text = raw.decode("utf-8", errors="replace")
    _, _, body = text.partition("\n\n") if "\n\n" in text else ("", "", text)
    return _clip(body.strip() or text.strip() or None)


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = text.strip()
    if not text:
        return None
    return text[:MAX_TEXT]


class _HeaderReader:
    """Header values that never raise: a header the parser chokes on counts as a defect."""

    def __init__(self, message: Message, defects: list[str]) -> None:
        self._message = message
        self._defects = defects

    def raw(self, name: str) -> str | None:
        try:
            value = self._message.get(name)
        except Exception as exc:
            self._defects.append(f"{name}:{type(exc).__name__}")
            return None
        if value is None:
            return None
        defects = getattr(value, "defects", ())
        self._defects.extend(f"{name}:{type(d).__name__}" for d in defects)
        return str(value)

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        value = re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()
        return value[:998] or None

    def ids(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        return tuple(dict.fromkeys(_ID.findall(value or "")))[-MAX_IDS:]

    def first_id(self, name: str) -> str | None:
        value = self.raw(name)
        found: list[str] = _ID.findall(value or "")
        if found:
            return found[0]
        value = (value or "").strip()
        return f"<{value}>" if value and " " not in value else None

    def address(self, name: str) -> tuple[str | None, str | None]:
        value = self.raw(name)
        if not value:
            return None, None
        pairs = getaddresses([value])
        if not pairs or not pairs[0][1] or "@" not in pairs[0][1]:
            return None, None
        display, address = pairs[0]
        return (display.strip() or None), address.strip().lower()

    def addresses(self, *names: str) -> tuple[str, ...]:
        values = [v for name in names if (v := self.raw(name))]
        return tuple(dict.fromkeys(a.strip().lower() for _, a in getaddresses(values) if "@" in a))


def _walk(
    message: Message,
    text_parts: list[str],
    html_parts: list[str],
    attachments: list[InboundAttachment],
    defects: list[str],
) -> None:
    for part in message.walk():
        if part.is_multipart():
            defects.extend(type(d).__name__ for d in part.defects)
            continue
        defects.extend(type(d).__name__ for d in part.defects)
        kind = part.get_content_type()
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        if filename or disposition == "attachment" or not kind.startswith("text/"):
            content = part.get_payload(decode=True)
            if isinstance(content, bytes) and content:
                attachments.append(
                    InboundAttachment(_attachment_name(filename, kind), kind, content)
                )
            continue
        decoded = _decoded_text(part, defects)
        if decoded is None:
            continue
        if kind == "text/html":
            html_parts.append(decoded)
        else:
            text_parts.append(decoded)


def _attachment_name(filename: str | None, kind: str) -> str:
    if filename:
        try:
            return clean_filename(filename)
        except InvalidInputError:
            pass
    subtype = kind.rsplit("/", 1)[-1]
    return "attachment." + (subtype if subtype.isalnum() and len(subtype) <= 8 else "bin")


def _decoded_text(part: Message, defects: list[str]) -> str | None:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    charset = part.get_content_charset() or "utf-8"
    try:
        return str(payload.decode(charset))
    except (LookupError, UnicodeDecodeError) as exc:
        defects.append(type(exc).__name__)
        return payload.decode("utf-8", errors="replace")


# ------------------------------------------------------------------------- HTML

_ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i",
    "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}}


def sanitise_html(html: str) -> str:
    """HTML reduced to an allow-list of tags and attributes: no script, style, images,
    forms, frames or event handlers; links only to http, https and mailto."""
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


class _TextOfHtml(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str | None:
    """The readable text of an HTML body (script and style contents dropped)."""
    reader = _TextOfHtml()
    try:
        reader.feed(html)
        reader.close()
    except Exception:  # fall back to stripping every tag
        return _clip(html_lib.unescape(re.sub(r"<[^>]*>", " ", html)))
    text = "".join(reader.parts)
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    return _clip(re.sub(r"\n\s*\n\s*\n+", "\n\n", text))


# ---------------------------------------------------------------------- threading


def normalise_id(value: str) -> str:
    """The form ids are stored and compared in (``<local@host>``, host lower-cased)."""
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    local, at, host = value[1:-1].rpartition("@")
    return f"<{local}@{host.lower()}>" if at else value


def external_id(message_id: str) -> str:
    """The idempotency key of a message id (hashed when longer than the column)."""
    normal = normalise_id(message_id)
    if len(normal) <= MAX_ID_LENGTH:
        return normal
    return "sha256:" + hashlib.sha256(normal.encode()).hexdigest()


def thread_ids(email: InboundEmail) -> tuple[str, ...]:
    """The ids that place ``email`` in a thread, the nearest first: its parent, then the
    References chain from the newest back to the root."""
    ids = [*email.in_reply_to, *reversed(email.references)]
    return tuple(dict.fromkeys(external_id(i) for i in ids))[:MAX_IDS]


def thread_root(email: InboundEmail) -> str:
    if email.references:
        return email.references[0]
    if email.in_reply_to:
        return email.in_reply_to[0]
    return email.message_id


def thread_key(root_id: str) -> str:
    """What ``conversations.thread_key`` holds for a thread: a hash of its root id."""
    return hashlib.sha256(normalise_id(root_id).encode()).hexdigest()


def new_message_id(domain: str, seed: str | None = None) -> str:
    """A new Message-ID at ``domain``; with ``seed``, always the same one for that seed
    (so a retried request produces the same message, and is recognised)."""
    local = uuid.uuid4().hex if seed is None else hashlib.sha256(seed.encode()).hexdigest()[:32]
    return f"<{local}@{domain.lower()}>"


def reply_subject(subject: str | None) -> str:
    subject = (subject or "").strip()
    if re.match(r"(?i)^(re|aw|sv|返信)\s*[:：]", subject):
        return subject
    return f"Re: {subject}" if subject else "Re:"


def references_for(parent_id: str | None, parent_references: Sequence[str]) -> tuple[str, ...]:
    """References of a reply: the parent's chain plus the parent (the root kept when cut)."""
    chain = [*parent_references, *([parent_id] if parent_id else [])]
    chain = list(dict.fromkeys(chain))
    if len(chain) > MAX_IDS:
        chain = [chain[0], *chain[-(MAX_IDS - 1) :]]
    return tuple(chain)


def header_ids(raw: bytes) -> tuple[tuple[str, ...], str | None]:
    """(References, Message-ID) of a stored message, read from its headers only."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        references = tuple(_ID.findall(str(message.get("References") or "")))
        found = _ID.findall(str(message.get("Message-ID") or ""))
    except Exception:
        return (), None
    return references, (found[0] if found else None)


# ------------------------------------------------------------------------- loops

_AUTOMATIC_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)@", re.I)


def automatic_reason(message: Message, from_address: str | None) -> str | None:
    """Why ``message`` must get no automatic answer, or None (RFC 3834 §2 and list
    headers): it is itself automatic, bulk, from a list, a bounce or has no sender."""

    def get(name: str) -> str:
        try:
            return str(message.get(name) or "").strip().lower()
        except Exception:
            return "unreadable"

    auto_submitted = get("Auto-Submitted")
    if auto_submitted and auto_submitted != "no":
        return "auto-submitted"
    if get("Precedence") in ("bulk", "junk", "list", "auto_reply"):
        return "precedence"
    if get("List-Id") or get("List-Unsubscribe") or get("List-Post"):
        return "mailing-list"
    if (
        get("X-Autoreply")
        or get("X-Autorespond")
        or get("X-Auto-Response-Suppress")
        in (
            "all",
            "autoreply",
            "oof",
        )
    ):
        return "auto-submitted"
    if get("Return-Path") == "<>":
        return "bounce"
    if not from_address or _AUTOMATIC_SENDERS.match(from_address):
        return "automatic-sender"
    if message.get_content_type() == "multipart/report":
        return "bounce"
    return None


def may_auto_answer(email: InboundEmail, own_addresses: Sequence[str]) -> str | None:
    """Why no automatic answer may go to ``email``, or None when one may."""
    if email.automatic:
        return email.automatic
    target = email.reply_address
    if target is None:
        return "no-address"
    own = {a.lower() for a in own_addresses}
    if target.lower() in own or (email.from_address or "").lower() in own:
        return "own-address"
    if email.malformed:
        return "malformed"
    return None


# ----------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class OutboundEmail:
    from_address: str
    from_name: str | None
    to: str
    subject: str
    message_id: str
    text: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = False  # an automatic answer (RFC 3834: Auto-Submitted: auto-replied)
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # (filename, media type, content)
    date: datetime | None = None


_LINK = re.compile(r"https?://[^\s<>\"']+")


def html_of(text: str) -> str:
    """The HTML alternative of a plain-text reply: the same words, escaped, lines kept,
    links clickable. Nothing the communicator typed becomes markup."""
    escaped = html_lib.escape(text, quote=True)
    linked = _LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return (
        '<!DOCTYPE html><html><body><div style="font-family:sans-serif;'
        f'white-space:pre-wrap">{linked}</div></body></html>'
    )


def build_email(out: OutboundEmail) -> bytes:
    """The MIME bytes of an outgoing message: plain text and its HTML alternative (UTF-8),
    then the attachments."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(out.from_name or "", addr_spec=out.from_address)
    message["To"] = out.to
    message["Subject"] = re.sub(r"[\r\n]+", " ", out.subject)
    message["Date"] = format_datetime(out.date or datetime.now(UTC))
    message["Message-ID"] = out.message_id
    if out.in_reply_to:
        message["In-Reply-To"] = out.in_reply_to
    if out.references:
        message["References"] = " ".join(out.references)
    if out.automatic:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    message["MIME-Version"] = "1.0"
    message.set_content(out.text, charset="utf-8")
    message.add_alternative(html_of(out.text), subtype="html", charset="utf-8")
    for filename, media_type, content in out.attachments:
        main, _, sub = media_type.partition("/")
        message.add_attachment(content, maintype=main, subtype=sub, filename=filename)
    return message.as_bytes()


def render(template: str, values: Mapping[str, str | None]) -> str:
    """A template or signature with ``{field}`` filled (unknown fields stay visible)."""
    return fill(template, values).text


def with_signature(body: str, signature: str | None, values: Mapping[str, str | None]) -> str:
    if not signature:
        return body
    return f"{body.rstrip()}\n\n{render(signature, values)}"
