"""Audio mixing in Janus AudioBridge, for what rtpengine cannot do (it does not mix).

A *room* mixes its participants; each participant here is a plain-RTP endpoint
(G.711 µ-law): Janus receives the participant's audio on a port it chooses and sends
the mix of everybody else to the address we give. The engine connects a leg by
pointing the leg's rtpengine ``engine`` side at the Janus port, and gives Janus the
leg's rtpengine relay port as the destination — so phones never talk to Janus.

Janus is driven over its HTTP API (one session, one plugin handle per participant,
events by long poll). Sessions do not time out: Janus runs with
``session_timeout = 0`` (see :mod:`.processes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from tsunagi.aio import stop_tasks

PCMU = 0


class MixerError(RuntimeError):
    """Janus refused a request or could not be reached."""


@dataclass(frozen=True, slots=True)
class Participant:
    handle: int
    janus_port: int
    """Where the participant's audio must be sent (on the mixer's host)."""


class JanusMixer:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self._base = base_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._session = 0
        self._control = 0
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._session = (await self._post(self._base, {"janus": "create"}))["data"]["id"]
        self._control = await self._attach()
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def close(self) -> None:
        await stop_tasks([self._poller])
        with contextlib.suppress(httpx.HTTPError, MixerError):
            await self._post(f"{self._base}/{self._session}", {"janus": "destroy"})
        await self._client.aclose()

    async def create_room(self) -> int:
        room = secrets.randbelow(2**52) + 1
        data = await self._message(
            self._control,
            {
                "request": "create",
                "room": room,
                "allow_rtp_participants": True,
                "sampling_rate": 8000,
                "audiolevel_event": False,
            },
        )
        if data.get("audiobridge") != "created":
            raise MixerError(f"room not created: {data}")
        return room

    async def destroy_room(self, room: int) -> None:
        await self._message(self._control, {"request": "destroy", "room": room})

    async def join(
        self, room: int, *, send_to: tuple[str, int], display: str, muted: bool = False
    ) -> Participant:
        """Add a plain-RTP participant whose mix goes to ``send_to``; a muted one hears
        the room but is not mixed into it."""
        handle = await self._attach()
        transaction = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        body = {
            "request": "join",
            "room": room,
            "codec": "pcmu",
            "display": display,
            "muted": muted,
            "rtp": {"ip": send_to[0], "port": send_to[1], "payload_type": PCMU},
        }
        try:
            await self._post(
                f"{self._base}/{self._session}/{handle}",
                {"janus": "message", "body": body, "transaction": transaction},
            )
            async with asyncio.timeout(5):
                event = await future
        finally:
            self._waiting.pop(transaction, None)
        data = event["plugindata"]["data"]
        if data.get("audiobridge") != "joined" or "rtp" not in data:
            raise MixerError(f"join refused: {data}")
        return Participant(handle=handle, janus_port=int(data["rtp"]["port"]))

    async def leave(self, participant: Participant) -> None:
        with contextlib.suppress(MixerError):
            await self._post(
                f"{self._base}/{self._session}/{participant.handle}", {"janus": "detach"}
            )

    # -- plumbing ------------------------------------------------------------------------

    async def _attach(self) -> int:
        reply = await self._post(
            f"{self._base}/{self._session}",
            {"janus": "attach", "plugin": "janus.plugin.audiobridge"},
        )
        handle: int = reply["data"]["id"]
        return handle

    async def _message(self, handle: int, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self._post(
            f"{self._base}/{self._session}/{handle}", {"janus": "message", "body": body}
        )
        data: dict[str, Any] = reply.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise MixerError(str(data["error"]))
        return data

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        body.setdefault("transaction", secrets.token_hex(8))
        try:
            response = await self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise MixerError(f"Janus unreachable: {exc}") from exc
        reply: dict[str, Any] = response.json()
        if reply.get("janus") == "error":
            raise MixerError(str(reply.get("error")))
        return reply

    async def _poll(self) -> None:
        url = f"{self._base}/{self._session}"
        while True:
            try:
                response = await self._client.get(url, params={"maxev": 10}, timeout=35)
                events = response.json()
            except (httpx.HTTPError, ValueError):
                await asyncio.sleep(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                future = self._waiting.get(str(event.get("transaction")))
                if future is not None and not future.done():
                    future.set_result(event)
