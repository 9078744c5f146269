"""Bencode, the encoding of rtpengine's ng control protocol.

Only what the ng protocol uses: byte strings, integers, lists and dictionaries.
Text is encoded as UTF-8 on the way out; on the way in, strings come back as
``bytes`` except dictionary keys, which rtpengine always sends as ASCII and which
are decoded to ``str`` for convenience. Dictionary keys are sorted on encoding, as
the format requires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

BValue: TypeAlias = bytes | str | int | Sequence["BValue"] | Mapping[str, "BValue"]
Decoded: TypeAlias = bytes | int | list["Decoded"] | dict[str, "Decoded"]


class BencodeError(ValueError):
    """The input is not valid bencode."""


def encode(value: BValue) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: BValue, out: list[bytes]) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, str):
        _encode(value.encode(), out)
    elif isinstance(value, bytes):
        out.append(b"%d:%s" % (len(value), value))
    elif isinstance(value, Mapping):
        out.append(b"d")
        for key in sorted(value, key=lambda k: k.encode()):
            _encode(key, out)
            _encode(value[key], out)
        out.append(b"e")
    elif isinstance(value, Sequence):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> Decoded:
    value, end = _decode(data, 0)
    if end != len(data):
        raise BencodeError(f"trailing data at offset {end}")
    return value


def _decode(data: bytes, pos: int) -> tuple[Decoded, int]:
    if pos >= len(data):
        raise BencodeError("unexpected end of data")
    lead = data[pos : pos + 1]
    if lead == b"i":
        end = data.find(b"e", pos)
        if end < 0:
            raise BencodeError("unterminated integer")
        try:
            return int(data[pos + 1 : end]), end + 1
        except ValueError as exc:
            raise BencodeError(f"bad integer at offset {pos}") from exc
    if lead == b"l":
        items: list[Decoded] = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _decode(data, pos)
            items.append(item)
        return items, pos + 1
    if lead == b"d":
        result: dict[str, Decoded] = {}
        pos += 1
        while data[pos : pos + 1] != b"e":
            key, pos = _decode_string(data, pos)
            result[key.decode()], pos = _decode(data, pos)
        return result, pos + 1
    return _decode_string(data, pos)


def _decode_string(data: bytes, pos: int) -> tuple[bytes, int]:
    colon = data.find(b":", pos)
    if colon < 0 or not data[pos:colon].isdigit():
        raise BencodeError(f"bad string length at offset {pos}")
    start = colon + 1
    end = start + int(data[pos:colon])
    if end > len(data):
        raise BencodeError("string runs past the end of data")
    return data[start:end], end
