"""What a written message and an attachment may be.

Text from a visitor, a customer's email or an SMS is kept as *text*: control characters
are removed and it is only ever shown with ``textContent`` (never as HTML), so markup in
it is inert wherever it is displayed. Attachments are accepted only when their bytes are
what their name and declared type claim (the first bytes decide, not the name).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tsunagi.domain.errors import InvalidInputError

MAX_CHAT_TEXT = 4000
MAX_FILENAME = 120
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str, *, limit: int = MAX_CHAT_TEXT, what: str = "message") -> str:
    """Normalise line ends, drop control and bidi-override characters, trim; refuse an
    empty or over-long text with a message naming the limit."""
    text = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise InvalidInputError(f"the {what} is empty")
    if len(text) > limit:
        raise InvalidInputError(f"the {what} is {len(text)} characters; at most {limit}")
    return text


def clean_filename(value: str) -> str:
    """A display name for a file: no path, no control characters, bounded length."""
    name = _CONTROL.sub("", value.replace("\\", "/").rsplit("/", 1)[-1]).strip().strip(".")
    name = unicodedata.normalize("NFC", name)
    if not name:
        raise InvalidInputError("the file name is empty")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_FILENAME - len(ext) - 1] + dot + ext) if dot else name[:MAX_FILENAME]
    return name


@dataclass(frozen=True, slots=True)
class FileKind:
    media_type: str
    extensions: tuple[str, ...]
    inline: bool  # may be shown in the page (images), else only downloaded


KINDS: tuple[FileKind, ...] = (
    FileKind("image/png", ("png",), True),
    FileKind("image/jpeg", ("jpg", "jpeg"), True),
    FileKind("image/gif", ("gif",), True),
    FileKind("application/pdf", ("pdf",), False),
    FileKind("text/plain", ("txt", "log", "csv"), False),
)
_BY_TYPE = {kind.media_type: kind for kind in KINDS}


def sniff(content: bytes) -> str | None:
    """The media type the bytes themselves show, among the accepted kinds; else None."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if _is_plain_text(content):
        return "text/plain"
    return None


def _is_plain_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    head = text[:1024].lstrip().lower()
    # Markup is not plain text: a browser could be talked into rendering it.
    return not head.startswith(("<!doctype", "<html", "<svg", "<?xml", "<script", "<body"))


def check_attachment(
    filename: str, declared_type: str | None, content: bytes, *, max_bytes: int
) -> FileKind:
    """The kind of an uploaded file, or :class:`InvalidInputError` saying what is wrong:
    too big, empty, not an accepted kind, or not what its name or type claims."""
    if not content:
        raise InvalidInputError("the file is empty")
    if len(content) > max_bytes:
        raise InvalidInputError(f"the file is {len(content):,} bytes; at most {max_bytes:,}")
    actual = sniff(content)
    if actual is None:
        accepted = ", ".join(ext for kind in KINDS for ext in kind.extensions)
        raise InvalidInputError(f"this kind of file is not accepted (accepted: {accepted})")
    kind = _BY_TYPE[actual]
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in kind.extensions:
        raise InvalidInputError(
            f"the file's content is {actual} but its name ends in .{extension or '(none)'}"
        )
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    if declared and declared not in (actual, "application/octet-stream"):
        raise InvalidInputError(f"the file is declared as {declared} but its content is {actual}")
    return kind


def is_inline(media_type: str) -> bool:
    kind = _BY_TYPE.get(media_type)
    return kind is not None and kind.inline
