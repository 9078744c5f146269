"""Turning rtpengine's pcap recordings into WAV files.

rtpengine here runs without its kernel module, so its recording daemon cannot be
used; ``--recording-method=pcap`` writes every RTP packet the call receives to a
pcap file (link type RAW: IPv4 + UDP + RTP). For one leg that is what the party
said *and*, when bridged, what its peer said (relayed to it), i.e. the
conversation. Prompts and music that rtpengine generates are not in it.

Conversion: group packets by RTP SSRC, place each stream on a common timeline
(the capture time of the stream's first packet, then RTP timestamps), decode
G.711 (µ-law or A-law) and sum the streams into one 8 kHz 16-bit mono WAV.
"""

from __future__ import annotations

import asyncio
import struct
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 8000
_LINKTYPE_RAW = 101
_PCMU, _PCMA = 0, 8


@dataclass(frozen=True, slots=True)
class RtpPacket:
    captured_s: float
    ssrc: int
    payload_type: int
    timestamp: int
    payload: bytes


def read_pcap(path: Path) -> Iterator[RtpPacket]:
    """RTP packets of a RAW-IPv4 pcap file (other packets are skipped)."""
    data = path.read_bytes()
    if len(data) < 24:
        return
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    if linktype != _LINKTYPE_RAW:
        raise ValueError(f"{path}: pcap link type {linktype}, expected RAW")
    pos = 24
    while pos + 16 <= len(data):
        seconds, fraction, captured, _ = struct.unpack_from(endian + "IIII", data, pos)
        frame = data[pos + 16 : pos + 16 + captured]
        pos += 16 + captured
        packet = _rtp_of_ipv4(frame, seconds + fraction / (1e9 if nano else 1e6))
        if packet is not None:
            yield packet


def _rtp_of_ipv4(frame: bytes, captured_s: float) -> RtpPacket | None:
    if len(frame) < 20 or frame[0] >> 4 != 4 or frame[9] != 17:
        return None
    udp = (frame[0] & 0x0F) * 4
    rtp = frame[udp + 8 :]
    if len(rtp) < 12 or rtp[0] >> 6 != 2:
        return None
    count = rtp[0] & 0x0F
    payload_type = rtp[1] & 0x7F
    timestamp, ssrc = struct.unpack_from("!II", rtp, 4)
    return RtpPacket(captured_s, ssrc, payload_type, timestamp, rtp[12 + 4 * count :])


def _ulaw_table() -> NDArray[np.int16]:
    """ITU-T G.711 µ-law expansion for all 256 codes."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> NDArray[np.int16]:
    """ITU-T G.711 A-law expansion for all 256 codes."""
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.int16)


_TABLES = {_PCMU: _ulaw_table(), _PCMA: _alaw_table()}


def decode_g711(payload: bytes, payload_type: int) -> NDArray[np.int16]:
    return _TABLES[payload_type][np.frombuffer(payload, dtype=np.uint8)]


def mix_streams(packets: Iterable[RtpPacket]) -> NDArray[np.int16]:
    """All G.711 streams summed on one timeline (see the module docstring).

    A stream is placed by its RTP timestamps from an anchor packet; when a timestamp
    disagrees with the capture clock by more than a second (a sender restarted its
    timestamps, or replayed a capture), the stream is re-anchored at that packet.
    """
    audio = sorted((p for p in packets if p.payload_type in _TABLES), key=lambda p: p.captured_s)
    if not audio:
        return np.zeros(0, dtype=np.int16)
    start_s = min(p.captured_s for p in audio)
    anchors: dict[int, tuple[int, int]] = {}  # ssrc → (timeline offset, RTP timestamp)
    placed: list[tuple[int, NDArray[np.int16]]] = []
    for packet in audio:
        by_clock = round((packet.captured_s - start_s) * SAMPLE_RATE)
        anchor = anchors.get(packet.ssrc)
        offset = by_clock
        if anchor is not None:
            offset = anchor[0] + _ts_delta(packet.timestamp, anchor[1])
        if anchor is None or abs(offset - by_clock) > _RESYNC_SAMPLES:
            anchors[packet.ssrc] = (by_clock, packet.timestamp)
            offset = by_clock
        # a timestamp a few samples off the clock must not land before the start
        placed.append((max(0, offset), decode_g711(packet.payload, packet.payload_type)))
    length = max(offset + len(samples) for offset, samples in placed)
    mix = np.zeros(length, dtype=np.int32)
    for offset, samples in placed:
        mix[offset : offset + len(samples)] += samples
    return np.clip(mix, -32768, 32767).astype(np.int16)


_RESYNC_SAMPLES = SAMPLE_RATE  # one second


def _ts_delta(timestamp: int, anchor: int) -> int:
    """RTP timestamp difference with 32-bit wrap-around, signed."""
    delta = (timestamp - anchor) & 0xFFFFFFFF
    return delta - (1 << 32) if delta >= 1 << 31 else delta


def write_wav(path: Path, samples: NDArray[np.int16]) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.astype("<i2").tobytes())


def pcap_to_wav(pcaps: Iterable[Path], target: Path) -> float:
    """Convert one leg's pcap files into ``target``; returns the duration in seconds."""
    packets = [packet for path in pcaps for packet in read_pcap(path)]
    samples = mix_streams(packets)
    write_wav(target, samples)
    return len(samples) / SAMPLE_RATE


async def convert_leg_recording(
    recording_dir: Path, leg_id: str, target: Path, *, keep_captures: bool = True
) -> float:
    """Wait for rtpengine to close the leg's pcaps, convert them; the WAV's duration.

    rtpengine names them ``<call-id>-<random>.pcap`` (one per recorded span) in
    ``recording_dir/pcaps`` and closes them shortly after recording stops.
    """
    pcaps_dir = recording_dir / "pcaps"
    for _ in range(50):
        found = sorted(pcaps_dir.glob(f"{leg_id}*.pcap"))
        if found:
            duration_s = await asyncio.to_thread(pcap_to_wav, found, target)
            if not keep_captures:
                for pcap in found:
                    pcap.unlink(missing_ok=True)
            return duration_s
        await asyncio.sleep(0.1)
    await asyncio.to_thread(write_wav, target, np.zeros(0, dtype=np.int16))
    return 0.0
