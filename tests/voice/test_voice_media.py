"""rtpengine relays a bridged party's media only from that party's own address.

Against a real rtpengine; the phones are plain UDP sockets sending RTP, so the test
knows exactly which packets reach whom.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Iterator

import pytest

from conftest import MediaPlane
from tsunagi.adapters.telephony.media import RtpengineMedia, audio_port, plain_sdp
from tsunagi.adapters.telephony.ng import NgClient

pytestmark = pytest.mark.voice

HOST = "127.0.0.1"


@pytest.fixture
def sockets() -> Iterator[dict[str, socket.socket]]:
    made = {}
    for name in ("caller", "agent", "stranger"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        sock.setblocking(False)
        made[name] = sock
    yield made
    for sock in made.values():
        sock.close()


@pytest.fixture
async def media(rtpengine: MediaPlane) -> AsyncIterator[RtpengineMedia]:
    ng = NgClient(HOST, rtpengine.settings.ng_port)
    await ng.open()
    yield RtpengineMedia(ng, host=HOST)
    ng.close()


def rtp(seq: int, payload: bytes) -> bytes:
    """One PCMU packet of 160 bytes of ``payload``'s first byte."""
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x7E57) + payload[:1] * 160


async def exchange(
    sender: socket.socket,
    stranger: socket.socket,
    port: int,
    receiver: socket.socket,
    packets: int = 60,
) -> dict[bytes, int]:
    """The sender and the stranger each send ``packets`` to rtpengine's ``port`` (20 ms
    apart); returns how many of each (by payload byte) reached the receiver."""
    seen = {b"S": 0, b"X": 0}
    for seq in range(packets):
        sender.sendto(rtp(seq, b"S"), (HOST, port))
        stranger.sendto(rtp(seq, b"X"), (HOST, port))
        await asyncio.sleep(0.02)
        _drain(receiver, seen)
    await asyncio.sleep(0.2)
    _drain(receiver, seen)
    return seen


def _drain(receiver: socket.socket, seen: dict[bytes, int]) -> None:
    while True:
        try:
            data = receiver.recv(2048)
        except BlockingIOError:
            return
        key = data[12:13]
        seen[key] = seen.get(key, 0) + 1


async def test_a_bridged_call_hears_its_parties_only(
    media: RtpengineMedia, sockets: dict[str, socket.socket]
) -> None:
    caller, agent, stranger = sockets["caller"], sockets["agent"], sockets["stranger"]
    # The caller's leg is inbound (its SDP is the offer); the agent's is one we originate.
    caller_sdp = await media.accept("in", plain_sdp(HOST, caller.getsockname()[1]))
    agent_sdp = await media.offer("out")
    await media.answered("out", plain_sdp(HOST, agent.getsockname()[1]))
    await media.connect("in", "out")

    to_agent = await exchange(caller, stranger, audio_port(caller_sdp), agent)
    to_caller = await exchange(agent, stranger, audio_port(agent_sdp), caller)

    # Every packet of the parties arrives (loopback loses none); none of the stranger's.
    assert to_agent == {b"S": 60, b"X": 0}, to_agent
    assert to_caller == {b"S": 60, b"X": 0}, to_caller
