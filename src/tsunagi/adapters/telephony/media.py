"""Media for each leg, anchored in rtpengine and steered over its ng protocol.

Model: every leg is **its own rtpengine call** (call-id = leg id) with two
participants: ``party`` (the phone at the far end) and ``engine`` (us). The worker
has no media socket of its own; the ``engine`` side starts out pointing at a
discard address with media from the party blocked, so rtpengine only relays what
we tell it to:

* prompts and music: ``play media`` towards ``party``;
* RFC 2833 DTMF: rtpengine reports the party's events on its DTMF log socket;
* a bridge: the ``engine`` sides of two legs are pointed at each other's
  rtpengine port (media is relayed twice through rtpengine; cheap, and it keeps
  each leg independent so legs can be re-bridged, transferred or recorded alone);
* listening: a ``subscribe`` copy of one party's media sent to the listener's leg;
* recording: rtpengine's pcap recording of the leg's call.

Every message that carries the party's SDP sets ``strict-source``: rtpengine then
drops RTP reaching the party's port from any address but the party's own. A port is
reused soon after its leg ends (a transferred caller's next agent may get the last
agent's port), and a phone that missed its BYE, or a stranger, must not be heard.

Whether the ``engine`` side is the offerer (legs we originate) or the answerer
(inbound legs) decides how its SDP is updated; this class hides that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tsunagi.adapters.telephony.bencode import BValue
from tsunagi.adapters.telephony.ng import NgClient, text_field

PARTY = "party"
ENGINE = "engine"
_DISCARD_PORT = 9
_PARTY_FLAGS = ["strict-source"]
"""Flags of every message carrying the party's SDP (leaving them out clears them)."""
_WEBRTC_OFFER: dict[str, BValue] = {
    "transport_protocol": "UDP/TLS/RTP/SAVPF",
    "ICE": "force",
    "SDES": ["off"],
    "rtcp_mux": ["require"],
    "flags": ["generate-mid"],
}
"""What the ``party`` side of a leg to a browser softphone is offered: ICE, DTLS-SRTP
(fingerprint, ``a=setup:actpass``; no SDES keys), RTCP multiplexed. The ``engine`` side
stays plain RTP, so bridging, prompts, DTMF and recording are the same as for any leg."""


def plain_sdp(host: str, port: int, session_id: int = 1, version: int = 1) -> str:
    """A G.711 µ-law + telephone-event SDP for ``host:port``."""
    return (
        "v=0\r\n"
        f"o=tsunagi {session_id} {version} IN IP4 {host}\r\n"
        "s=tsunagi\r\n"
        f"c=IN IP4 {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\n"
        "a=sendrecv\r\n"
    )


def audio_port(sdp: str) -> int:
    for line in sdp.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise ValueError("SDP has no audio stream")


@dataclass(slots=True)
class _LegMedia:
    engine_offers: bool
    """True for legs we originate: the ``engine`` side made the SDP offer."""
    relay_port: int = 0
    """rtpengine's port facing the ``engine`` side: where a bridged peer sends to."""
    party_sdp: str | None = None
    version: int = 1
    peer: str | None = None
    flags: list[str] = field(default_factory=list)
    webrtc: bool = False
    """The party is a browser (ICE + DTLS-SRTP): every re-offer repeats :data:`_WEBRTC_OFFER`
    (a guard: rtpengine 10.5 keeps the browser's side without it, another may not)."""


class RtpengineMedia:
    def __init__(self, ng: NgClient, *, host: str) -> None:
        self._ng = ng
        self._host = host
        self._legs: dict[str, _LegMedia] = {}

    # -- setting up a leg --------------------------------------------------------

    async def accept(self, leg_id: str, party_sdp: str) -> str:
        """An inbound leg: returns the SDP answer for the party."""
        leg = _LegMedia(engine_offers=False, party_sdp=party_sdp)
        self._legs[leg_id] = leg
        reply = await self._ng.request(
            "offer",
            call_id=leg_id,
            from_tag=PARTY,
            sdp=party_sdp,
            ICE="remove",
            flags=_PARTY_FLAGS,
        )
        leg.relay_port = audio_port(text_field(reply, "sdp"))
        reply = await self._ng.request(
            "answer",
            call_id=leg_id,
            from_tag=PARTY,
            to_tag=ENGINE,
            sdp=plain_sdp(self._host, _DISCARD_PORT),
        )
        await self._ng.request("block media", call_id=leg_id, from_tag=PARTY)
        return text_field(reply, "sdp")

    async def offer(self, leg_id: str, *, webrtc: bool = False) -> str:
        """An outbound leg: returns the SDP offer to send to the party (WebRTC's ICE +
        DTLS-SRTP for a browser softphone, plain RTP otherwise)."""
        leg = _LegMedia(engine_offers=True, webrtc=webrtc)
        self._legs[leg_id] = leg
        reply = await self._ng.request(
            "offer",
            call_id=leg_id,
            from_tag=ENGINE,
            sdp=plain_sdp(self._host, _DISCARD_PORT),
            **_offer_options(leg),
        )
        return text_field(reply, "sdp")

    async def answered(self, leg_id: str, party_sdp: str) -> None:
        """The party of an outbound leg answered with ``party_sdp``."""
        leg = self._legs[leg_id]
        leg.party_sdp = party_sdp
        reply = await self._ng.request(
            "answer",
            call_id=leg_id,
            from_tag=ENGINE,
            to_tag=PARTY,
            sdp=party_sdp,
            ICE="remove",
            flags=_PARTY_FLAGS,
        )
        leg.relay_port = audio_port(text_field(reply, "sdp"))
        await self._ng.request("block media", call_id=leg_id, from_tag=PARTY)

    async def release(self, leg_id: str) -> None:
        if self._legs.pop(leg_id, None) is not None:
            await self._ng.request("delete", call_id=leg_id)

    def forget_all(self) -> None:
        """rtpengine lost its state (it died): drop ours without asking it."""
        self._legs.clear()

    def knows(self, leg_id: str) -> bool:
        return leg_id in self._legs

    # -- prompts -----------------------------------------------------------------

    async def play(self, leg_id: str, path: str, *, repeat: int = 1) -> int:
        """Play ``path`` to the leg's party; returns its duration in ms (one pass)."""
        reply = await self._ng.request(
            "play media", call_id=leg_id, from_tag=PARTY, file=path, repeat_times=repeat
        )
        duration = reply.get("duration", 0)
        return duration if isinstance(duration, int) else 0

    async def stop_play(self, leg_id: str) -> None:
        await self._ng.request("stop media", call_id=leg_id, from_tag=PARTY)

    # -- bridging ------------------------------------------------------------------

    async def connect(self, first: str, second: str) -> None:
        """Relay audio both ways between the parties of two set-up legs."""
        a, b = self._legs[first], self._legs[second]
        await self._point_engine(first, a, b.relay_port)
        await self._point_engine(second, b, a.relay_port)
        a.peer, b.peer = second, first
        for leg_id in (first, second):
            await self._ng.request("unblock media", call_id=leg_id, from_tag=PARTY)

    async def disconnect(self, leg_id: str) -> None:
        """Undo :meth:`connect` for ``leg_id`` and its peer (if both still exist)."""
        leg = self._legs.get(leg_id)
        if leg is None or leg.peer is None:
            return
        peer_id, leg.peer = leg.peer, None
        for some_id in (leg_id, peer_id):
            some = self._legs.get(some_id)
            if some is None:
                continue
            some.peer = None
            await self._ng.request("block media", call_id=some_id, from_tag=PARTY)
            await self._point_engine(some_id, some, _DISCARD_PORT)

    async def listen(self, source: str, listener: str) -> None:
        """The listener's party hears a copy of what the source's party says.

        rtpengine's ``subscribe request`` adds a receive-only copy of the source
        party's media to the source's call; its answer points that copy at the
        listener's relay port, from where the listener's call relays it to the
        listener. The listener's own voice stays blocked.
        """
        target = self._legs[listener]
        await self._ng.request(
            "subscribe request", call_id=source, from_tag=PARTY, to_tag=_listen_tag(listener)
        )
        await self._ng.request(
            "subscribe answer",
            call_id=source,
            to_tag=_listen_tag(listener),
            sdp=plain_sdp(self._host, target.relay_port),
        )

    async def copy_to(self, source: str, tag: str, host: str, port: int) -> int:
        """Send a copy of the source party's voice to ``host:port`` (a subscription
        named ``tag``); returns rtpengine's port the copy comes from."""
        origin = await self.copy_from(source, tag)
        await self.copy_destination(source, tag, host, port)
        return origin

    async def copy_from(self, source: str, tag: str) -> int:
        """First half of :meth:`copy_to`: the port the copy will come from."""
        reply = await self._ng.request(
            "subscribe request", call_id=source, from_tag=PARTY, to_tag=tag
        )
        return audio_port(text_field(reply, "sdp"))

    async def copy_destination(self, source: str, tag: str, host: str, port: int) -> None:
        """Second half of :meth:`copy_to`: where the copy goes."""
        await self._ng.request(
            "subscribe answer", call_id=source, to_tag=tag, sdp=plain_sdp(host, port)
        )

    async def stop_copy(self, source: str, tag: str) -> None:
        if source in self._legs:
            await self._ng.request("unsubscribe", call_id=source, from_tag=PARTY, to_tag=tag)

    async def stop_listening(self, source: str, listener: str) -> None:
        if source in self._legs:
            await self._ng.request(
                "unsubscribe", call_id=source, from_tag=PARTY, to_tag=_listen_tag(listener)
            )

    def peer_of(self, leg_id: str) -> str | None:
        leg = self._legs.get(leg_id)
        return None if leg is None else leg.peer

    async def attach(self, leg_id: str, host: str, port: int) -> None:
        """Send the leg's party audio to ``host:port`` and relay what comes back to it
        (a mixer participant)."""
        await self._point_engine(leg_id, self._legs[leg_id], port, host=host)
        await self._ng.request("unblock media", call_id=leg_id, from_tag=PARTY)

    async def detach(self, leg_id: str) -> None:
        leg = self._legs.get(leg_id)
        if leg is not None:
            await self._ng.request("block media", call_id=leg_id, from_tag=PARTY)
            await self._point_engine(leg_id, leg, _DISCARD_PORT)

    def relay_port(self, leg_id: str) -> int:
        return self._legs[leg_id].relay_port

    async def _point_engine(
        self, leg_id: str, leg: _LegMedia, port: int, *, host: str | None = None
    ) -> None:
        leg.version += 1
        sdp = plain_sdp(host or self._host, port, version=leg.version)
        if not leg.engine_offers:
            await self._ng.request("answer", call_id=leg_id, from_tag=PARTY, to_tag=ENGINE, sdp=sdp)
            return
        assert leg.party_sdp is not None, "an outbound leg is bridged only once answered"
        await self._ng.request(
            "offer", call_id=leg_id, from_tag=ENGINE, sdp=sdp, **_offer_options(leg)
        )
        await self._ng.request(
            "answer",
            call_id=leg_id,
            from_tag=ENGINE,
            to_tag=PARTY,
            sdp=leg.party_sdp,
            flags=_PARTY_FLAGS,
        )

    # -- recording -------------------------------------------------------------------

    async def start_recording(self, leg_id: str) -> None:
        await self._ng.request("start recording", call_id=leg_id)

    async def stop_recording(self, leg_id: str) -> None:
        await self._ng.request("stop recording", call_id=leg_id)


def _offer_options(leg: _LegMedia) -> dict[str, BValue]:
    return dict(_WEBRTC_OFFER) if leg.webrtc else {}


def _listen_tag(listener: str) -> str:
    return f"listen-{listener}"
