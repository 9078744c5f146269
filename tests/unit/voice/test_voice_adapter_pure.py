"""Pure parts of the telephony adapter: DTMF parsing, SIP targets, SDP, G.711, pcap."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tsunagi.adapters.telephony.dtmf import parse_dtmf_log, parse_sip_info
from tsunagi.adapters.telephony.media import audio_port, plain_sdp
from tsunagi.adapters.telephony.recording import (
    RtpPacket,
    decode_g711,
    mix_streams,
    pcap_to_wav,
    read_pcap,
)
from tsunagi.adapters.telephony.sip import cause_of_status, parse_target
from tsunagi.domain.errors import InvalidInputError


@pytest.mark.parametrize(
    ("content_type", "body", "digit"),
    [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5"),
        ("application/dtmf-relay", "signal= #\r\n", "#"),
        ("application/dtmf-relay", "Signal=11\r\n", "#"),
        ("Application/DTMF", "*", "*"),
        ("application/dtmf-relay", "Duration=160", None),
        ("text/plain", "5", None),
        ("application/dtmf", "X", None),
    ],
)
def test_sip_info_digits(content_type: str, body: str, digit: str | None) -> None:
    assert parse_sip_info(content_type, body) == digit


def test_dtmf_log_entries() -> None:
    entry = parse_dtmf_log(b'{"callid":"leg1","source_tag":"party","event":10,"duration":200}')
    assert entry is not None
    assert (entry.call_id, entry.source_tag, entry.digit) == ("leg1", "party", "*")
    assert parse_dtmf_log(b'{"callid":"leg1","source_tag":"party","event":16}') is None
    assert parse_dtmf_log(b"not json") is None
    assert parse_dtmf_log(b"[1]") is None


@pytest.mark.parametrize(
    ("target", "parsed"),
    [
        ("sip:agent7@127.0.0.1:5070", ("agent7", "127.0.0.1", 5070)),
        ("agent7@pbx.example", ("agent7", "pbx.example", 5060)),
    ],
)
def test_sip_targets(target: str, parsed: tuple[str, str, int]) -> None:
    assert parse_target(target) == parsed


@pytest.mark.parametrize("target", ["sip:127.0.0.1", "sip:@host", "a@host:port"])
def test_bad_sip_targets(target: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_target(target)


def test_sdp_port_round_trip() -> None:
    sdp = plain_sdp("127.0.0.1", 40000, version=3)
    assert audio_port(sdp) == 40000
    assert "o=tsunagi 1 3 IN IP4 127.0.0.1" in sdp
    with pytest.raises(ValueError, match="no audio"):
        audio_port("v=0\r\n")


def test_g711_reference_values() -> None:
    # ITU-T G.711: µ-law 0xFF/0x7F are ±0, 0x00/0x80 the extremes ∓32124;
    # A-law 0xD5/0x55 are ±8, 0xAA/0x2A the extremes ±32256.
    ulaw = decode_g711(bytes([0xFF, 0x7F, 0x00, 0x80]), 0)
    assert ulaw.tolist() == [0, 0, -32124, 32124]
    alaw = decode_g711(bytes([0xD5, 0x55, 0xAA, 0x2A]), 8)
    assert alaw.tolist() == [8, -8, 32256, -32256]


def _rtp_pcap(path: Path, packets: list[tuple[float, int, int, int, bytes]]) -> None:
    """Write a RAW-IPv4 pcap like rtpengine's: (time, ssrc, pt, rtp ts, payload)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    for seq, (at, ssrc, pt, ts, payload) in enumerate(packets):
        rtp = struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload
        udp = struct.pack("!HHHH", 40000, 30000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         b"\x7f\0\0\1", b"\x7f\0\0\1") + udp  # fmt: skip
        out.append(struct.pack("<IIII", int(at), int((at % 1) * 1e6), len(ip), len(ip)) + ip)
    path.write_bytes(b"".join(out))


def test_pcap_streams_are_placed_on_one_timeline(tmp_path: Path) -> None:
    pcap = tmp_path / "leg.pcap"
    loud = bytes([0x80]) * 160  # µ-law +32124
    _rtp_pcap(
        pcap,
        [
            (100.00, 1, 0, 1000, loud),
            (100.02, 1, 0, 1160, loud),
            (100.50, 2, 0, 77, loud),  # a second party, half a second later
            (100.51, 2, 101, 77, b"\x05\x00\x00\xa0"),  # telephone-event: not audio
        ],
    )
    packets = list(read_pcap(pcap))
    assert [p.ssrc for p in packets] == [1, 1, 2, 2]
    mix = mix_streams(packets)
    assert len(mix) == 4000 + 160
    assert np.all(mix[:320] == 32124) and np.all(mix[320:4000] == 0)
    assert np.all(mix[4000:] == 32124)
    assert pcap_to_wav([pcap], tmp_path / "leg.wav") == pytest.approx(4160 / 8000)


def test_a_stream_that_restarts_its_timestamps_is_placed_by_capture_time(
    tmp_path: Path,
) -> None:
    pcap = tmp_path / "replay.pcap"
    loud = bytes([0x80]) * 160
    _rtp_pcap(
        pcap,
        [
            (10.0, 7, 0, 5000, loud),
            (10.02, 7, 0, 5160, loud),
            (13.0, 7, 0, 5000, loud),  # the same timestamps again, 3 s later
            (13.02, 7, 0, 5160, loud),
        ],
    )
    mix = mix_streams(read_pcap(pcap))
    assert len(mix) == 3 * 8000 + 320
    assert np.all(mix[:320] == 32124) and np.all(mix[-320:] == 32124)
    assert np.all(mix[320 : 3 * 8000] == 0)


def test_timestamps_wrap_around() -> None:
    packets = [
        RtpPacket(0.0, 1, 0, 0xFFFFFF60, bytes([0x80]) * 160),
        RtpPacket(0.02, 1, 0, 0x00000000, bytes([0x80]) * 160),
    ]
    assert len(mix_streams(packets)) == 320


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (486, "busy"),
        (408, "no_answer"),
        (603, "rejected"),
        (404, "unreachable"),
        (500, "engine_failure"),
    ],
)
def test_failure_statuses_map_to_causes(status: int, cause: str) -> None:
    assert cause_of_status(status) == cause


def test_files_in_any_order_and_early_timestamps_stay_on_the_timeline(tmp_path: Path) -> None:
    # A recording paused and resumed is two pcaps; their names sort in any order.
    first, second = tmp_path / "b.pcap", tmp_path / "a.pcap"
    loud = bytes([0x80]) * 160
    _rtp_pcap(first, [(50.0, 3, 0, 1000, loud)])
    _rtp_pcap(second, [(52.0, 3, 0, 1000 + 16000 - 40, loud)])  # timestamp 5 ms early
    mix = mix_streams([*read_pcap(second), *read_pcap(first)])
    assert len(mix) == 16000 - 40 + 160
    assert np.all(mix[:160] == 32124) and np.all(mix[160:15960] == 0)
