"""An asyncio client for rtpengine's ng control protocol (bencode over UDP).

Each request is ``<cookie> <bencoded dict>``; the reply carries the same cookie.
UDP may drop a datagram, so a request is retried with the same cookie (rtpengine
caches replies by cookie, so a retry is idempotent) until ``timeout_s`` passes.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping

from tsunagi.adapters.telephony import bencode


class RtpengineError(RuntimeError):
    """rtpengine answered ``result: error`` or did not answer at all."""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[bytes, asyncio.Future[bytes]] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        cookie, _, body = data.partition(b" ")
        future = self.waiting.get(cookie)
        if future is not None and not future.done():
            future.set_result(body)

    def error_received(self, exc: Exception) -> None:
        # ICMP unreachable while rtpengine restarts; the retry loop handles it.
        pass


class NgClient:
    """Talks to one rtpengine instance. Create inside a running event loop."""

    def __init__(
        self, host: str, port: int, *, timeout_s: float = 2.0, retry_s: float = 0.25
    ) -> None:
        self._address = (host, port)
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol = _Protocol()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self._protocol, remote_addr=self._address
        )
        self._transport = transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def request(self, command: str, **params: bencode.BValue) -> dict[str, bencode.Decoded]:
        """Send ``command`` with ``params``; ``call_id`` is sent as ``call-id``.

        Returns the reply dict; raises :class:`RtpengineError` on ``result: error``.
        """
        if self._transport is None:
            raise RtpengineError("ng client is not open")
        message: dict[str, bencode.BValue] = {"command": command}
        message.update({key.replace("_", "-"): value for key, value in params.items()})
        cookie = secrets.token_hex(8).encode()
        datagram = cookie + b" " + bencode.encode(message)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._protocol.waiting[cookie] = future
        try:
            async with asyncio.timeout(self._timeout_s):
                while True:
                    self._transport.sendto(datagram)
                    done, _ = await asyncio.wait({future}, timeout=self._retry_s)
                    if done:
                        break
        except TimeoutError as exc:
            raise RtpengineError(f"rtpengine did not answer {command!r}") from exc
        finally:
            del self._protocol.waiting[cookie]
        reply = bencode.decode(future.result())
        if not isinstance(reply, dict):
            raise RtpengineError(f"unexpected reply to {command!r}: {reply!r}")
        if reply.get("result") == b"error":
            reason = reply.get("error-reason", b"?")
            raise RtpengineError(f"{command}: {_text(reason)}")
        return reply


def _text(value: bencode.Decoded) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else repr(value)


def text_field(reply: Mapping[str, bencode.Decoded], key: str) -> str:
    """A string field of a reply (``sdp``, ``result``…)."""
    value = reply.get(key)
    if not isinstance(value, bytes):
        raise RtpengineError(f"reply has no {key!r}: {reply!r}")
    return value.decode()
