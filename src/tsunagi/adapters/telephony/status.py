"""The voice worker's health, as a small JSON file the web's status page reads.

The worker (``tsunagi voice serve``) rewrites ``<data_dir>/voice/status.json`` every few
seconds (atomically: write, fsync, rename) with each component's state — SIP edge
(kamailio), media plane (rtpengine, and whether it answers the worker's pings), mixer
(Janus) — restarts, live calls and the time. The web and the worker already share
``data_dir`` (recordings), so no port or table is needed. A file older than
``STALE_AFTER_S`` means the worker is not running (or hung): the page says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STALE_AFTER_S = 15.0
REPORT_EVERY_S = 3.0


def status_path(data_dir: Path) -> Path:
    return data_dir / "voice" / "status.json"


@dataclass(frozen=True, slots=True)
class VoiceStatus:
    state: str  # "ok", "degraded", "stale" or "not running"
    components: dict[str, bool] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    live_calls: int = 0
    sip: str | None = None
    updated_at: datetime | None = None
    age_s: float | None = None


def write_status(
    path: Path,
    *,
    components: dict[str, bool],
    restarts: dict[str, int],
    live_calls: int,
    sip: str,
    now: datetime | None = None,
) -> None:
    body = {
        "components": components,
        "restarts": restarts,
        "live_calls": live_calls,
        "sip": sip,
        "updated_at": (now or datetime.now(UTC)).isoformat(),
        "pid": os.getpid(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        json.dump(body, out)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)


def read_status(path: Path, *, now: datetime | None = None) -> VoiceStatus:
    try:
        body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        updated = datetime.fromisoformat(body["updated_at"])
    except FileNotFoundError:
        return VoiceStatus(state="not running")
    except (ValueError, KeyError, TypeError):
        return VoiceStatus(state="stale")
    age = ((now or datetime.now(UTC)) - updated).total_seconds()
    components = {str(k): bool(v) for k, v in dict(body.get("components", {})).items()}
    if age > STALE_AFTER_S:
        state = "stale"
    elif components and all(components.values()):
        state = "ok"
    else:
        state = "degraded"
    return VoiceStatus(
        state=state,
        components=components,
        restarts={str(k): int(v) for k, v in dict(body.get("restarts", {})).items()},
        live_calls=int(body.get("live_calls", 0)),
        sip=body.get("sip"),
        updated_at=updated,
        age_s=round(age, 1),
    )


__all__ = [
    "REPORT_EVERY_S",
    "STALE_AFTER_S",
    "VoiceStatus",
    "read_status",
    "status_path",
    "write_status",
]
