"""Mixed bridges — barge and whisper — built from rtpengine legs and a Janus room.

rtpengine cannot mix; Janus AudioBridge can, and sends every participant the mix of
all the *others*. A leg joins a room by pointing its rtpengine ``engine`` side at
the participant's Janus port, with Janus sending the participant's mix to the leg's
relay port (:meth:`RtpengineMedia.attach`).

* **Barge** (three-way): the two bridged legs and the newcomer are all participants;
  everyone hears everyone else. **Listen** to a conversation is the same with the
  newcomer muted: it hears both parties and nobody hears it.
* **Whisper** (a coach talks to the agent; the customer must not hear the coach):
  the agent and the coach are ordinary participants — the agent hears the customer
  and the coach, the coach hears the customer and the agent. The customer must hear
  only the agent, so the customer is *not* attached to the room: a copy of the
  customer's voice (an rtpengine subscription) is the room's third participant,
  whose mix goes back to the subscription's port where rtpengine drops it, and a
  copy of the agent's voice goes straight to the customer's relay port. The
  customer's own ``engine`` side points at that copy's source port so rtpengine sees
  a consistent peer.

Leaving: when the barging or coaching leg leaves (or hangs up), the room is dissolved
and the original pair is bridged ``full`` again under the same bridge id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tsunagi.adapters.telephony.media import RtpengineMedia
from tsunagi.adapters.telephony.mixer import JanusMixer, Participant


@dataclass(slots=True)
class _Room:
    room: int
    pair: tuple[str, str]
    """The legs that were bridged before; they are bridged again when the room ends."""
    guest: str
    """The barging or coaching leg."""
    parts: dict[str, Participant] = field(default_factory=dict)
    copies: list[tuple[str, str]] = field(default_factory=list)
    """(source leg, subscription tag) to undo."""


class Mixing:
    def __init__(
        self, media: RtpengineMedia, mixer: JanusMixer, *, media_host: str, mixer_host: str
    ) -> None:
        self._media = media
        self._mixer = mixer
        self._media_host = media_host
        self._mixer_host = mixer_host
        self._rooms: dict[str, _Room] = {}

    def __contains__(self, bridge_id: object) -> bool:
        return bridge_id in self._rooms

    def members(self, bridge_id: str) -> list[str]:
        room = self._rooms[bridge_id]
        return [*room.pair, room.guest]

    async def barge(
        self, bridge_id: str, pair: tuple[str, str], guest: str, *, muted: bool = False
    ) -> None:
        """``pair`` must already be disconnected from each other. A ``muted`` guest
        listens to both without being heard (supervisor listen)."""
        room = _Room(await self._mixer.create_room(), pair, guest)
        self._rooms[bridge_id] = room
        for leg_id in pair:
            await self._attach(room, leg_id)
        await self._attach(room, guest, muted=muted)

    async def whisper(self, bridge_id: str, customer: str, agent: str, coach: str) -> None:
        """``customer`` and ``agent`` must already be disconnected from each other."""
        room = _Room(await self._mixer.create_room(), (customer, agent), coach)
        self._rooms[bridge_id] = room
        await self._attach(room, agent)
        await self._attach(room, coach)
        tag = f"whisper-{bridge_id}"
        source_port = await self._media.copy_to(
            agent, tag, self._media_host, self._media.relay_port(customer)
        )
        room.copies.append((agent, tag))
        # Unblock the customer before subscribing to it: a copy made while the party
        # is blocked stays silent.
        await self._media.attach(customer, self._media_host, source_port)
        # Janus takes a plain-RTP participant's audio only from the address it sends
        # the mix to, so the copy's origin port is also where its (unused) mix goes.
        tag = f"mix-{bridge_id}"
        origin = await self._media.copy_from(customer, tag)
        room.copies.append((customer, tag))
        ear = await self._mixer.join(
            room.room, send_to=(self._media_host, origin), display=f"{customer}-voice"
        )
        room.parts[f"{customer}-voice"] = ear
        await self._media.copy_destination(customer, tag, self._mixer_host, ear.janus_port)

    async def leave(self, bridge_id: str, leg_id: str) -> tuple[str, str] | None:
        """``leg_id`` leaves (it hung up, or the guest is dismissed).

        Returns the pair to bridge ``full`` again, or ``None`` when the bridge is over
        (the room is dissolved either way, except a barge keeping three members)."""
        room = self._rooms[bridge_id]
        if leg_id == room.guest:
            await self.dissolve(bridge_id)
            return room.pair
        kept = [m for m in (*room.pair, room.guest) if m != leg_id]
        await self.dissolve(bridge_id)
        if room.copies:  # whisper without its customer or agent: nothing to keep
            return None
        return (kept[0], kept[1])

    async def dissolve(self, bridge_id: str) -> None:
        room = self._rooms.pop(bridge_id)
        for source, tag in room.copies:
            await self._media.stop_copy(source, tag)
        for part in room.parts.values():
            await self._mixer.leave(part)
        await self._mixer.destroy_room(room.room)
        for leg_id in (*room.pair, room.guest):
            await self._media.detach(leg_id)

    async def _attach(self, room: _Room, leg_id: str, *, muted: bool = False) -> None:
        part = await self._mixer.join(
            room.room,
            send_to=(self._media_host, self._media.relay_port(leg_id)),
            display=leg_id,
            muted=muted,
        )
        room.parts[leg_id] = part
        await self._media.attach(leg_id, self._mixer_host, part.janus_port)
