"""Voice engine load benchmark: concurrent calls through the sippy + rtpengine engine.

Modes
  Callers (sipp, benchmarks/voice/caller.xml) send DTMF by SIP INFO, then 21 s of
  G.711 speech (a 7 s capture shipped with sipp, played 3 times), then hang up.

  ivr     each call: answered, recorded, looping music, DTMF counted, caller hangs up
  bridge  each call: answered, recorded, an agent leg originated to a sipp UAS farm
          (echoing RTP), customer and agent bridged, caller hangs up, agent hung up
  barge   as bridge, then a supervisor leg (to the same farm) barges in: one Janus
          AudioBridge room of three per call

Run (from the repository root, rtpengine and sipp installed):
  .venv/bin/python benchmarks/voice/bench_calls.py --mode ivr --calls 200 --rate 20
  .venv/bin/python benchmarks/voice/bench_calls.py --mode bridge --calls 100 --rate 10

Prints call-setup time (INVITE → 200 OK, from sipp's per-call response times), failed
calls, and CPU / memory of rtpengine and of the Python worker over the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from tsunagi.adapters.telephony.engine import SippyRtpengineEngine, VoiceWorkerConfig
from tsunagi.adapters.telephony.processes import (
    JanusSettings,
    RtpengineSettings,
    free_port,
    free_udp_range,
    start_janus,
    start_rtpengine,
)
from tsunagi.ports.telephony import (
    BridgeMode,
    CallAnswered,
    CallHungUp,
    CallOffered,
    DtmfReceived,
    RecordingReady,
)

HERE = Path(__file__).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_music(path: Path) -> None:
    t = np.arange(8000 * 4) / 8000
    samples = (0.3 * 32767 * np.sin(2 * np.pi * 350 * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())


class App:
    """The platform side: what each mode does with a call."""

    def __init__(self, engine: SippyRtpengineEngine, mode: str, agent_target: str) -> None:
        self.engine = engine
        self.mode = mode
        self.agent_target = agent_target
        self.peer: dict[str, str] = {}
        self.supervisor_of: dict[str, str] = {}
        """agent leg → supervisor leg (barge mode)"""
        self.barged = 0
        self.dtmf = 0
        self.answered = 0
        self.bridged = 0
        self.errors: list[str] = []
        self.recorded_s: list[float] = []

    async def run(self) -> None:
        async for event in self.engine.events():
            try:
                await self.handle(event)
            except Exception as exc:  # a benchmark counts failures instead of stopping
                self.errors.append(f"{type(event).__name__}: {exc!r}")

    async def handle(self, event: object) -> None:
        engine = self.engine
        if isinstance(event, CallOffered):
            await engine.answer(event.leg_id)
            self.answered += 1
            await engine.start_recording(event.leg_id)
            if self.mode == "ivr":
                await engine.play(event.leg_id, "music", loop=True)
            else:
                agent = await engine.originate(self.agent_target, caller_id="bench", timeout_s=10)
                self.peer[agent] = event.leg_id
                self.peer[event.leg_id] = agent
        elif isinstance(event, CallAnswered) and event.leg_id in self.supervisor_of.values():
            agent = next(a for a, s in self.supervisor_of.items() if s == event.leg_id)
            await engine.bridge(agent, event.leg_id, BridgeMode.BARGE)
            self.barged += 1
        elif isinstance(event, CallAnswered) and event.direction == "outbound":
            await engine.bridge(self.peer[event.leg_id], event.leg_id)
            self.bridged += 1
            if self.mode == "barge":
                supervisor = await engine.originate(
                    self.agent_target, caller_id="bench", timeout_s=10
                )
                self.supervisor_of[event.leg_id] = supervisor
        elif isinstance(event, RecordingReady):
            self.recorded_s.append(event.duration_s)
        elif isinstance(event, DtmfReceived):
            self.dtmf += 1
        elif isinstance(event, CallHungUp) and event.by_remote:
            other = self.peer.pop(event.leg_id, None)
            if other is not None:
                self.peer.pop(other, None)
                for leg in (self.supervisor_of.pop(other, None), other):
                    if leg is None:
                        continue
                    try:
                        await engine.hangup(leg)
                    except Exception as exc:
                        self.errors.append(f"hangup {leg}: {exc!r}")


async def rtpengine_calls(engine: SippyRtpengineEngine) -> int:
    reply = await engine.ng.request("list")
    calls = reply.get("calls", [])
    return len(calls) if isinstance(calls, list) else -1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["ivr", "bridge", "barge"], default="ivr")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rate", type=int, default=10, help="new calls per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tsunagi-voice-bench-") as tmp:
        return await run(args, Path(tmp))


async def run(args: argparse.Namespace, work: Path) -> int:
    media = work / "media"
    media.mkdir()
    write_music(media / "music.wav")
    base = free_udp_range(2000)
    settings = RtpengineSettings(
        workdir=work / "rtpengine",
        ng_port=free_port(),
        dtmf_log_port=free_port(),
        rtp_port_min=base,
        rtp_port_max=base + 1999,
        log_level=4,
    )
    rtpengine = start_rtpengine(settings)
    janus = None
    janus_url = None
    if args.mode == "barge":
        mixer_ports = free_udp_range(1000)
        janus_settings = JanusSettings(
            workdir=work / "janus",
            http_port=free_port(socket.SOCK_STREAM),
            rtp_port_min=mixer_ports,
            rtp_port_max=mixer_ports + 999,
        )
        janus = start_janus(janus_settings)
        janus_url = janus_settings.url
    config = VoiceWorkerConfig(
        sip_host="127.0.0.1",
        sip_port=free_port(),
        ng_host="127.0.0.1",
        ng_port=settings.ng_port,
        dtmf_log_host="127.0.0.1",
        dtmf_log_port=settings.dtmf_log_port,
        media_dir=media,
        recording_dir=settings.recording_dir,
        mixer_url=janus_url,
    )
    engine = SippyRtpengineEngine(config)
    await engine.start()
    farm: subprocess.Popen[bytes] | None = None
    agent_port = free_port()
    if args.mode in ("bridge", "barge"):
        farm = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
            ["sipp", "-sn", "uas", "-rtp_echo", "-i", "127.0.0.1", "-p", str(agent_port),
             "-mp", str(free_port(span=4)), "-nostdin"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=work,
        )  # fmt: skip
        await asyncio.sleep(0.5)
    app = App(engine, args.mode, f"sip:agent@127.0.0.1:{agent_port}")
    app_task = asyncio.create_task(app.run())

    rtp_pid = rtpengine.pid
    assert rtp_pid is not None
    janus_pid = janus.pid if janus is not None else None
    janus0 = cpu_seconds(janus_pid) if janus_pid else 0.0
    cpu0 = (cpu_seconds(rtp_pid), cpu_seconds(os.getpid()), time.monotonic())
    machine0 = machine_cpu()
    sipp_argv = [
        "sipp", "-sf", str(HERE / "caller.xml"), "-m", str(args.calls), "-r", str(args.rate),
        "-l", str(args.calls), "-i", "127.0.0.1",
        "-p", str(free_port()), "-mp", str(free_port(span=4)), "-timeout", "300s",
        "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-nostdin",
        f"127.0.0.1:{config.sip_port}",
    ]  # fmt: skip
    sipp = await asyncio.create_subprocess_exec(
        *sipp_argv, cwd=work, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    peak_rss = {"rtpengine": 0.0, "worker": 0.0}
    while sipp.returncode is None:
        peak_rss["rtpengine"] = max(peak_rss["rtpengine"], rss_mib(rtp_pid))
        peak_rss["worker"] = max(peak_rss["worker"], rss_mib(os.getpid()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sipp.wait(), 1)
    cpu1 = (cpu_seconds(rtp_pid), cpu_seconds(os.getpid()), time.monotonic())
    janus1 = cpu_seconds(janus_pid) if janus_pid else 0.0
    machine1 = machine_cpu()
    await asyncio.sleep(1)
    wall = cpu1[2] - cpu0[2]

    stats = sorted(work.glob("caller_*_.csv"))  # noqa: ASYNC240 - after the measurement
    rtts = sorted(work.glob("caller_*_rtt.csv"))  # noqa: ASYNC240
    setup_ms = [
        float(line.split(";")[1])  # Date_ms;response_time_ms;rtd_no
        for path in rtts
        for line in path.read_text().splitlines()[1:]
        if line.count(";") >= 2
    ]
    failed = successful = -1
    if stats:
        header, *rows = stats[0].read_text().splitlines()
        names = header.split(";")
        last = rows[-1].split(";")
        failed = int(last[names.index("FailedCall(C)")])
        successful = int(last[names.index("SuccessfulCall(C)")])
    print(f"mode={args.mode} calls={args.calls} rate={args.rate}/s (each call ~22 s)")
    print(f"sipp exit={sipp.returncode} successful={successful} failed={failed}")
    if setup_ms:
        print(
            f"setup INVITE->200 ms: p50={statistics.median(setup_ms):.1f} "
            f"p99={percentile(setup_ms, 0.99):.1f} max={max(setup_ms):.1f} n={len(setup_ms)}"
        )
    print(
        f"cpu over {wall:.0f}s: rtpengine {100 * (cpu1[0] - cpu0[0]) / wall:.1f}% of a core, "
        f"worker {100 * (cpu1[1] - cpu0[1]) / wall:.1f}% of a core"
        + (f", janus {100 * (janus1 - janus0) / wall:.1f}% of a core" if janus_pid else "")
    )
    busy = (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
    print(f"whole machine (incl. sipp callers and agent farm): {100 * busy:.1f}% busy of all cores")
    print(f"peak RSS MiB: rtpengine {peak_rss['rtpengine']:.0f}, worker {peak_rss['worker']:.0f}")
    print(
        f"engine: answered={app.answered} bridged={app.bridged} barged={app.barged} "
        f"dtmf={app.dtmf} "
        f"errors={len(app.errors)} {app.errors[:3]}"
    )
    await asyncio.sleep(2)  # the last recordings are converted after their calls end
    durations = app.recorded_s or [0.0]
    print(
        f"recordings: {len(app.recorded_s)}, duration s min={min(durations):.1f} "
        f"median={statistics.median(durations):.1f}"
    )
    await asyncio.sleep(35)  # sippy keeps a dialog ~32 s after BYE to absorb retransmissions
    print(
        f"left after the run: engine legs={engine.live_legs}, "
        f"SIP dialogs={engine.sip_dialogs}, rtpengine calls={await rtpengine_calls(engine)}"
    )

    app_task.cancel()
    await engine.stop()
    if farm is not None:
        farm.terminate()
        farm.wait(5)
    rtpengine.stop()
    if janus is not None:
        janus.stop()
    return 0 if failed == 0 and not app.errors else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
