"""DTMF decoding for the two ways a phone sends digits.

* RFC 2833 / 4733 telephone-events travel in the RTP stream; rtpengine detects
  them and sends one JSON datagram per digit to ``--dtmf-log-dest``.
* SIP INFO carries a digit in the body, as ``application/dtmf-relay``
  (``Signal=5\\r\\nDuration=160``) or ``application/dtmf`` (``5``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

_EVENT_DIGITS = "0123456789*#ABCD"
VALID_DIGITS = frozenset(_EVENT_DIGITS)


@dataclass(frozen=True, slots=True)
class DtmfLogEntry:
    call_id: str
    source_tag: str
    digit: str


def parse_dtmf_log(datagram: bytes) -> DtmfLogEntry | None:
    """One rtpengine DTMF log datagram, or ``None`` if it is not a digit event."""
    try:
        data = json.loads(datagram)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    event = data.get("event")
    call_id = data.get("callid")
    tag = data.get("source_tag")
    if not (isinstance(event, int) and 0 <= event < len(_EVENT_DIGITS)):
        return None
    if not (isinstance(call_id, str) and isinstance(tag, str)):
        return None
    return DtmfLogEntry(call_id, tag, _EVENT_DIGITS[event])


def parse_sip_info(content_type: str, body: str) -> str | None:
    """The digit of a SIP INFO body, or ``None`` if it carries none."""
    kind = content_type.split(";")[0].strip().lower()
    value: str | None = None
    if kind == "application/dtmf-relay":
        for line in body.splitlines():
            name, _, rest = line.partition("=")
            if name.strip().lower() == "signal":
                value = rest.strip()
                break
    elif kind == "application/dtmf":
        value = body.strip()
    if value is None:
        return None
    value = value.upper()
    if value in ("10", "11"):
        value = "*#"[int(value) - 10]
    return value if value in VALID_DIGITS else None


class _LogProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_entry: Callable[[DtmfLogEntry], None]) -> None:
        self._on_entry = on_entry

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        entry = parse_dtmf_log(data)
        if entry is not None:
            self._on_entry(entry)


async def listen_dtmf_log(
    host: str, port: int, on_entry: Callable[[DtmfLogEntry], None]
) -> asyncio.DatagramTransport:
    """Receive rtpengine's DTMF log on ``host:port``; close the returned transport to stop."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _LogProtocol(on_entry), local_addr=(host, port)
    )
    return transport
