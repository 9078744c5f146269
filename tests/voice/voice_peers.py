"""Real SIP peers for voice tests: baresip phones (driven over ctrl_tcp) and sipp.

Each peer is a child process the test owns, on free ports, with its files in the
test's tmp_path; ``stop()`` ends it by PID.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import socket
import subprocess
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from testkit import require
from tsunagi.adapters.telephony.processes import ManagedProcess, free_port


def require_tool(name: str, package: str) -> str:
    """The tool's path; a missing tool fails the test in CI and skips it elsewhere."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    require(path is not None, f"{name} (run scripts/voice-deps.sh; Debian package {package})")
    assert path is not None
    return path


def write_tone(path: Path, frequency_hz: float, seconds: float, rate: int = 8000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.4 * 32767 * np.sin(2 * np.pi * frequency_hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def read_wav(path: Path) -> tuple[NDArray[np.float64], int]:
    with wave.open(str(path), "rb") as src:
        rate = src.getframerate()
        channels = src.getnchannels()
        data = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2").astype(np.float64)
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, rate


def tone_levels(
    samples: NDArray[np.float64], rate: int, frequencies: list[float]
) -> dict[float, float]:
    """Share of the signal's energy within ±25 Hz of each frequency (0..1)."""
    if len(samples) < rate // 10:
        return dict.fromkeys(frequencies, 0.0)
    window = samples * np.hanning(len(samples))
    power = np.abs(np.fft.rfft(window)) ** 2
    freqs = np.fft.rfftfreq(len(window), 1 / rate)
    total = float(power.sum()) or 1.0
    return {f: float(power[np.abs(freqs - f) <= 25].sum()) / total for f in frequencies}


def tone_timeline(
    path: Path, frequencies: list[float], window_s: float = 0.5
) -> list[float | None]:
    """For each window of the recording, the frequency holding most of its energy
    (``None`` for silence or a window no listed tone dominates)."""
    samples, rate = read_wav(path)
    size = int(rate * window_s)
    timeline: list[float | None] = []
    for start in range(0, len(samples) - size + 1, size):
        chunk = samples[start : start + size]
        if np.abs(chunk).mean() < 100:  # silence (16-bit full scale is 32767)
            timeline.append(None)
            continue
        levels = tone_levels(chunk, rate, frequencies)
        best = max(levels, key=lambda f: levels[f])
        timeline.append(best if levels[best] >= 0.5 else None)
    return timeline


def tone_windows(
    path: Path, frequencies: list[float], window_s: float = 0.5
) -> list[dict[float, float]]:
    """Each frequency's share of the energy, window by window."""
    samples, rate = read_wav(path)
    size = int(rate * window_s)
    return [
        tone_levels(samples[i : i + size], rate, frequencies)
        for i in range(0, len(samples) - size + 1, size)
    ]


def tone_shares(path: Path, frequencies: list[float], window_s: float = 0.5) -> dict[float, float]:
    """Each frequency's mean share of the energy over the non-silent windows (for mixes)."""
    samples, rate = read_wav(path)
    size = int(rate * window_s)
    windows = [
        tone_levels(samples[i : i + size], rate, frequencies)
        for i in range(0, len(samples) - size + 1, size)
        if np.abs(samples[i : i + size]).mean() >= 100
    ]
    if not windows:
        return dict.fromkeys(frequencies, 0.0)
    return {f: sum(w[f] for w in windows) / len(windows) for f in frequencies}


def heard(path: Path, frequencies: list[float]) -> set[float]:
    """Which of ``frequencies`` dominate at least one half-second of the recording."""
    return {f for f in tone_timeline(path, frequencies) if f is not None}


@dataclass
class Baresip:
    """A baresip phone: plays ``tone`` as its microphone and dumps what it hears."""

    name: str
    workdir: Path
    tone: Path
    registrar: str | None = None
    """``host:port`` to register with (an edge); None: no registration."""
    password: str | None = None
    """The digest password it answers the edge's challenge with (``auth_pass``)."""
    auth_user: str | None = None
    """The digest user name (``auth_user``); default: the phone's own name."""
    sip_port: int = 0
    ctrl_port: int = 0
    process: ManagedProcess | None = None
    _sock: socket.socket | None = None
    _buffer: bytes = b""
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"sip:{self.name}@{self.registrar or f'127.0.0.1:{self.sip_port}'}"

    def start(self) -> None:
        binary = require_tool("baresip", "baresip")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port(span=2)  # baresip binds port and port + 1
        self.ctrl_port = free_port(socket.SOCK_STREAM)
        rtp = free_port(span=20)
        config = f"""poll_method epoll
sip_listen 127.0.0.1:{self.sip_port}
sip_transports udp
net_interface 127.0.0.1
audio_player aubridge,{self.name}
audio_alert aubridge,{self.name}-alert
audio_source aufile,{self.tone}
ausrc_srate 8000
ausrc_channels 1
auplay_srate 8000
auplay_channels 1
rtp_ports {rtp}-{rtp + 19}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}
snd_path {self.workdir}
"""
        (self.workdir / "config").write_text(config)
        regint = 60 if self.registrar else 0
        auth = "" if self.auth_user is None else f";auth_user={self.auth_user}"
        auth += "" if self.password is None else f";auth_pass={self.password}"
        (self.workdir / "accounts").write_text(
            f"<{self.uri}>{auth};regint={regint};answermode=auto;audio_codecs=PCMU"
            ";dtmfmode=rtpevent\n"
        )
        self.process = ManagedProcess(
            f"baresip-{self.name}", [binary, "-f", str(self.workdir)], self.workdir / "log"
        )
        self.process.start(self._connect)

    def _connect(self) -> bool:
        try:
            self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.2)
        except OSError:
            return False
        self._sock.settimeout(0.2)
        return True

    def command(self, command: str, params: str = "") -> None:
        assert self._sock is not None
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._sock.sendall(b"%d:%s," % (len(body), body))

    def wait_event(self, kind: str, timeout_s: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if event.get("type") == kind:
                    return event
            seen = len(self.events)
            self._pump()
        raise AssertionError(f"{self.name}: no {kind} within {timeout_s} s; saw {self.events}")

    def wait_registered(self, timeout_s: float = 10.0) -> None:
        """Registration runs at start-up, often before the control connection exists,
        so its event may be missed: read baresip's own log line instead."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "200 OK" in self.process.log_path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not register: {self.process.tail()}")

    def wait_log(self, text: str, timeout_s: float = 10.0) -> None:
        """Wait for ``text`` in baresip's log (e.g. the edge's reply to its REGISTER)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.process.log_path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no {text!r} in its log: {self.process.tail()}")

    def _pump(self) -> None:
        assert self._sock is not None
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            return
        self._buffer += chunk
        while b":" in self._buffer:
            length_text, _, rest = self._buffer.partition(b":")
            length = int(length_text)
            if len(rest) < length + 1:
                return
            message = json.loads(rest[:length])
            self._buffer = rest[length + 1 :]
            if message.get("event"):
                self.events.append(message)

    def dumps(self, kind: str) -> list[Path]:
        """sndfile's files: ``dec`` = what this phone heard, ``enc`` = what it sent."""
        return sorted(self.workdir.glob(f"dump-*-{kind}.wav"))

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.process is not None:
            self.process.stop(timeout_s=2)


def run_sipp(
    scenario: Path,
    target: str,
    *,
    calls: int = 1,
    rate: int = 10,
    limit: int | None = None,
    workdir: Path,
    extra: list[str] | None = None,
    timeout_s: int = 60,
) -> subprocess.CompletedProcess[str]:
    """Run sipp in the foreground (never ``-bg``: it would escape our control)."""
    binary = require_tool("sipp", "sip-tester")
    argv = [
        binary,
        "-sf",
        str(scenario),
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-l",
        str(limit or calls),
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mp",
        str(free_port(span=4)),
        "-timeout",
        f"{timeout_s}s",
        "-timeout_error",
        "-trace_stat",
        "-stf",
        str(workdir / "sipp-stats.csv"),
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-s",
        "100",
        *(extra or []),
        target,
    ]
    return subprocess.run(
        argv,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
        check=False,
    )


def run_sipp_uas(
    scenario: Path,
    port: int,
    workdir: Path,
    *,
    calls: int = 1,
    timeout_s: int = 30,
    extra: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """sipp answering on ``port`` (an agent phone or a trunk), in the foreground."""
    binary = require_tool("sipp", "sip-tester")
    argv = [
        binary, "-sf", str(scenario), "-m", str(calls), "-i", "127.0.0.1", "-p", str(port),
        "-timeout", f"{timeout_s}s", "-timeout_error", "-nostdin", *(extra or []),
    ]  # fmt: skip
    return subprocess.run(
        argv, cwd=workdir, capture_output=True, text=True, timeout=timeout_s + 30, check=False
    )


def sip_register(
    port: int,
    user: str,
    *,
    digest_user: str | None = None,
    password: str | None = None,
    transport: str = "udp",
    realm: str = "tsunagi",
) -> list[str]:
    """REGISTER ``user`` at the edge on ``127.0.0.1:port`` over UDP or plain TCP, as a
    desk phone would: answer the 401 challenge with digest (``digest_user``, default
    ``user``) when ``password`` is given. The status lines of the edge's replies."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    uri = f"sip:127.0.0.1:{port}"
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(5)
        if transport == "udp":
            sock.bind(("127.0.0.1", 0))
        else:
            sock.connect(("127.0.0.1", port))
        local = sock.getsockname()[1]

        def exchange(cseq: int, authorization: str | None) -> str:
            lines = [
                f"REGISTER {uri} SIP/2.0",
                f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:{local};rport;"
                f"branch=z9hG4bK{secrets.token_hex(8)}",
                "Max-Forwards: 70",
                f"To: <sip:{user}@127.0.0.1:{port}>",
                f"From: <sip:{user}@127.0.0.1:{port}>;tag=t{cseq}",
                f"Call-ID: register-{user}-{local}",
                f"CSeq: {cseq} REGISTER",
                f"Contact: <sip:{user}@127.0.0.1:{local};transport={transport}>",
                "Expires: 60",
            ]
            if authorization is not None:
                lines.append(f"Authorization: {authorization}")
            message = "\r\n".join([*lines, "Content-Length: 0", "", ""]).encode()
            if transport == "udp":
                sock.sendto(message, ("127.0.0.1", port))
                return sock.recv(65536).decode()
            sock.sendall(message)
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = sock.recv(65536)
                assert chunk, f"the edge closed the connection: {reply!r}"
                reply += chunk
            return reply.decode()

        replies = [exchange(1, None)]
        if password is not None and replies[0].startswith("SIP/2.0 401"):
            nonce = replies[0].split('nonce="', 1)[1].split('"', 1)[0]
            name = digest_user or user
            ha1 = hashlib.md5(f"{name}:{realm}:{password}".encode()).hexdigest()
            ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
            response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
            replies.append(
                exchange(
                    2,
                    f'Digest username="{name}", realm="{realm}", nonce="{nonce}", '
                    f'uri="{uri}", response="{response}", algorithm=MD5',
                )
            )
    return [reply.split("\r\n", 1)[0] for reply in replies]
