from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.adapters.telephony.bencode import BencodeError, decode, encode


def test_encodes_the_ng_ping_exactly() -> None:
    assert encode({"command": "ping"}) == b"d7:command4:pinge"


def test_sorts_keys_and_nests() -> None:
    data = encode({"sdp": "v=0", "call-id": "c1", "flags": ["trust-address", 5]})
    assert data == b"d7:call-id2:c15:flagsl13:trust-addressi5ee3:sdp3:v=0e"


def test_decodes_a_reply() -> None:
    reply = decode(b"d6:result2:ok8:durationi1000ee")
    assert reply == {"result": b"ok", "duration": 1000}


@pytest.mark.parametrize(
    "bad", [b"", b"i12", b"5:abc", b"d3:keye", b"x", b"i1ei2e", b"l", b"iabce"]
)
def test_rejects_malformed_input(bad: bytes) -> None:
    with pytest.raises((BencodeError, IndexError)):
        decode(bad)


def test_refuses_booleans() -> None:
    with pytest.raises(TypeError):
        encode(True)


values = st.recursive(
    st.integers() | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _as_decoded(value: object) -> object:
    if isinstance(value, dict):
        return {k: _as_decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_decoded(v) for v in value]
    return value


@settings(deadline=None)  # a busy shared machine made single examples exceed 200 ms
@given(values)
def test_round_trips(value: object) -> None:
    assert decode(encode(value)) == _as_decoded(value)  # type: ignore[arg-type]
