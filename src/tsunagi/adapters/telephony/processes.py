"""Running the engine's C components (rtpengine, kamailio) as child processes.

Each component runs in the foreground as our child, with configuration generated
into a private directory, so whoever starts it (``tsunagi voice``, a test
fixture) owns its PID and stops it. Errors say what is missing or which port is
taken instead of failing later with a timeout.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tsunagi.adapters.telephony.edge_auth import EDGE_REALM, PHONE_PASSWORD_HEX


class ComponentError(RuntimeError):
    """A voice component is missing, could not start, or its port is taken."""


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise ComponentError(f"{name} is not installed (Debian package {package})")
    return path


def require_module(name: str, package: str) -> None:
    if not Path(_KAMAILIO_MODULES, f"{name}.so").is_file():
        raise ComponentError(f"kamailio module {name} is not installed (Debian package {package})")


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1", span: int = 1) -> int:
    """A port (the first of ``span`` consecutive ones) free for both UDP and TCP now."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((host, 0))
            base: int = probe.getsockname()[1]
        if base + span < 65535 and all(_is_free(host, base + i) for i in range(span)):
            return base
    raise ComponentError(f"no run of {span} free ports on {host}")


def free_udp_range(span: int, host: str = "127.0.0.1", low: int = 20000, high: int = 32000) -> int:
    """The first of ``span`` consecutive UDP ports free now, below the usual ephemeral
    range (32768+) so that outgoing connections do not land in it (for RTP)."""
    rng = secrets.SystemRandom()
    for _ in range(50):
        base = rng.randrange(low, high - span)
        if all(_is_free(host, base + i, kinds=(socket.SOCK_DGRAM,)) for i in range(span)):
            return base
    raise ComponentError(f"no run of {span} free UDP ports on {host} in {low}-{high}")


def _is_free(
    host: str, port: int, kinds: tuple[int, ...] = (socket.SOCK_DGRAM, socket.SOCK_STREAM)
) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def ensure_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ComponentError(f"{what}: port {host}:{port} is taken ({exc})") from exc


_LIVE: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


@atexit.register
def _stop_children() -> None:
    """Children run in their own sessions, so they would outlive us: stop them at exit.
    (A crash that skips ``atexit`` still leaves them running: stop them by their pid
    files in the work directories.)"""
    for proc in list(_LIVE):
        proc.stop(timeout_s=2)


class ManagedProcess:
    """A child process in its own session, logged to a file, stopped on request."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, ready: Callable[[], bool], timeout_s: float = 10.0) -> None:
        with self.log_path.open("ab") as log:
            # argv is built by this module from settings, never from user input; no shell.
            self._proc = subprocess.Popen(  # noqa: S603
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE.add(self)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ComponentError(
                    f"{self.name} exited with {self._proc.returncode}: {self.tail()}"
                )
            if ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ComponentError(f"{self.name} not ready after {timeout_s} s: {self.tail()}")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)

    def kill(self) -> None:
        """Crash it (for failure tests): SIGKILL, no clean-up."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(5)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True, slots=True)
class RtpengineSettings:
    workdir: Path
    host: str = "127.0.0.1"
    ng_port: int = 2223
    rtp_port_min: int = 30000
    rtp_port_max: int = 30999
    dtmf_log_port: int = 2224
    log_level: int = 5
    endpoint_learning: str = "off"
    """rtpengine's ``endpoint-learning``: ``off`` takes each phone's media address from
    its SDP and, with the ``strict-source`` flag the engine sets on every party, drops
    RTP from anywhere else (a stale or injected stream is never heard); ``heuristic``
    learns the address from the first packets (phones behind NAT with no SBC), and
    forwards any source for those first three seconds."""

    @property
    def recording_dir(self) -> Path:
        return self.workdir / "recordings"

    def config_text(self) -> str:
        """rtpengine.conf for this instance (no CLI, HTTP or kernel table)."""
        options = {
            "table": "-1",
            "interface": self.host,
            "listen-ng": f"{self.host}:{self.ng_port}",
            "port-min": str(self.rtp_port_min),
            "port-max": str(self.rtp_port_max),
            "dtmf-log-dest": f"{self.host}:{self.dtmf_log_port}",
            "recording-method": "pcap",
            "recording-dir": str(self.recording_dir),
            "log-level": str(self.log_level),
            "delete-delay": "0",
            "endpoint-learning": self.endpoint_learning,
        }
        lines = ["[rtpengine]", *(f"{key} = {value}" for key, value in options.items())]
        return "\n".join(lines) + "\n"

    def argv(self, binary: str) -> list[str]:
        config = self.workdir / "rtpengine.conf"
        return [
            binary,
            f"--config-file={config}",
            "--foreground",
            "--log-stderr",
            f"--pidfile={self.workdir / 'rtpengine.pid'}",
        ]


def start_rtpengine(settings: RtpengineSettings) -> ManagedProcess:
    binary = require_binary("rtpengine", "rtpengine-daemon")
    ensure_free(settings.host, settings.ng_port, "rtpengine ng control")
    settings.workdir.mkdir(parents=True, exist_ok=True)
    settings.recording_dir.mkdir(parents=True, exist_ok=True)
    (settings.workdir / "rtpengine.conf").write_text(settings.config_text())
    proc = ManagedProcess("rtpengine", settings.argv(binary), settings.workdir / "rtpengine.log")
    proc.start(lambda: ng_ping(settings.host, settings.ng_port))
    return proc


def ng_ping(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """Whether rtpengine answers an ng ``ping`` (blocking; for start-up and health)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.sendto(b"health d7:command4:pinge", (host, port))
            reply = sock.recv(512)
        except OSError:
            return False
    return reply.startswith(b"health ") and b"pong" in reply


_KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
_SECRET = re.compile(r"[A-Za-z0-9_-]{32,}")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")

_KAMAILIO_CFG = """#!KAMAILIO
# Generated by tsunagi.adapters.telephony.processes: the SIP edge of the voice engine.
debug=2
log_stderror=yes
children=2
tcp_children=1
disable_tcp={disable_tcp}
auto_aliases=no
listen=udp:{host}:{port}
alias="{host}:{port}"
{ws_listen}mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "textops.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "crypto.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
{ws_modules}
request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check()) {{
        exit;
    }}
{ws_requests}    if (is_method("REGISTER")) {{
        route(PHONE_AUTH);
        save("location");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (has_totag()) {{
        # In-dialog: only what this edge record-routed is relayed.
        if (loose_route()) {{
{ws_alias}            t_relay();
            exit;
        }}
        if (is_method("ACK") && t_check_trans()) {{
            t_relay();
            exit;
        }}
        sl_send_reply("404", "Not Here");
        exit;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    record_route();
    if ($si == "{worker_host}" && $sp == {worker_port}) {{
        # From the voice worker: to a phone registered here.
        if (!lookup("location")) {{
            sl_send_reply("404", "Not Registered");
            exit;
        }}
        t_relay();
        exit;
    }}
    # Everything else (a trunk, a phone dialling in) goes to the voice worker.
    $du = "sip:{worker_host}:{worker_port}";
    t_relay();
}}

# A desk phone (UDP, or plain SIP over TCP) registers only its own name, with digest
# authentication against its phone password: the first {password_hex} hex digits of
# HMAC-SHA256(edge secret, "phone:<user name>"), computed here per request — no password
# table (:func:`tsunagi.adapters.telephony.edge_auth.phone_password`).
route[PHONE_AUTH] {{
    if (!is_present_hf("Authorization")) {{
        www_challenge("{realm}", "0");
        exit;
    }}
    if ($aU == "" || $aU != $tU || $aU != $fU) {{
        sl_send_reply("403", "Not Your Name");
        exit;
    }}
    crypto_hmac_sha256("phone:$aU", "{secret}", "$var(mac)");
    $var(password) = $(var(mac){{s.decode.base64urlt}}{{s.encode.hexa}});
    $var(password) = $(var(password){{s.substr,0,{password_hex}}});
    if (!pv_www_authenticate("{realm}", "$var(password)", "0")) {{
        www_challenge("{realm}", "0");
        exit;
    }}
    consume_credentials();
}}
{ws_routes}"""

# SIP over WebSocket for the desk softphone (kamailio-websocket-modules). A browser
# registers only with a credential the web app issued to the signed-in communicator:
# digest user ``<expiry>:<user name>``, password base64url(HMAC-SHA256(edge secret, digest
# user)) — checked here without any lookup (:mod:`tsunagi.adapters.telephony.edge_auth`).
# It may register its own name only, and send nothing but REGISTER and in-dialog requests
# (it answers calls; it places none).
_WS_LISTEN = """listen=tcp:{host}:{ws_port}
tcp_accept_no_cl=yes
tcp_connection_lifetime=3605
"""
_WS_MODULES = """loadmodule "xhttp.so"
loadmodule "websocket.so"
loadmodule "nathelper.so"
modparam("usrloc", "handle_lost_tcp", 1)
modparam("nathelper|registrar", "received_avp", "$avp(RECEIVED)")
modparam("websocket", "keepalive_timeout", 30)
"""
_WS_REQUESTS = """    if (proto == WS || proto == WSS) {{
        force_rport();
        if (is_method("REGISTER")) {{
            route(SOFTPHONE_AUTH);
            fix_nated_register();
            save("location");
            exit;
        }}
        if (!has_totag()) {{
            sl_send_reply("403", "Softphones Only Answer");
            exit;
        }}
    }}
"""
_WS_ALIAS = """            if ($ru =~ ";alias=") {{
                handle_ruri_alias();
            }}
"""
_WS_ROUTES = """
route[SOFTPHONE_AUTH] {{
    if (!is_present_hf("Authorization")) {{
        www_challenge("{realm}", "0");
        exit;
    }}
    $var(expires) = $(aU{{s.select,0,:}}{{s.int}});
    $var(name) = $(aU{{s.select,1,:}});
    if ($var(expires) < $TS || $var(name) == "") {{
        www_challenge("{realm}", "0");
        exit;
    }}
    if ($var(name) != $tU || $var(name) != $fU) {{
        sl_send_reply("403", "Not Your Name");
        exit;
    }}
    crypto_hmac_sha256("$aU", "{secret}", "$var(password)");
    if (!pv_www_authenticate("{realm}", "$var(password)", "0")) {{
        www_challenge("{realm}", "0");
        exit;
    }}
    consume_credentials();
}}

onreply_route {{
    if (proto == WS || proto == WSS) {{
        add_contact_alias();
    }}
}}

event_route[xhttp:request] {{
    if ($Rp != {ws_port} || !($hdr(Upgrade) =~ "websocket")) {{
        xhttp_reply("403", "Forbidden", "", "");
        exit;
    }}
{origin_check}    if (ws_handle_handshake()) {{
        exit;
    }}
    xhttp_reply("404", "Not Found", "", "");
}}
"""
_WS_ORIGIN = """    if ($hdr(Origin) != "{origin}") {{
        xhttp_reply("403", "Forbidden", "", "");
        exit;
    }}
"""


@dataclass(frozen=True, slots=True)
class KamailioSettings:
    """kamailio as the SIP edge: registrar for agents' phones, door to the worker."""

    workdir: Path
    worker_host: str
    worker_port: int
    host: str = "127.0.0.1"
    port: int = 5060
    ws_port: int | None = None
    """SIP over WebSocket for browser softphones (``ws://host:ws_port``); none when unset.
    Put it behind the web app's TLS proxy in production (browsers need ``wss://`` from an
    ``https://`` page)."""
    secret: str = ""
    """The edge secret (``edge_auth.edge_secret``, 32+ URL-safe characters): softphone
    credentials are signed with it and desk phones' passwords derived from it. Required:
    no phone registers without digest authentication."""
    ws_origin: str | None = None
    """The web app's origin (``https://desk.example.com``): WebSocket upgrades from any
    other page are refused. Unchecked when unset."""
    realm: str = EDGE_REALM

    def config_text(self) -> str:
        ws = self.ws_port is not None
        if not _SECRET.fullmatch(self.secret):
            raise ComponentError("the SIP edge needs a secret of 32+ URL-safe characters")
        origin = ""
        if ws and self.ws_origin:
            if not _ORIGIN.fullmatch(self.ws_origin):
                raise ComponentError(f"bad web origin {self.ws_origin!r}")
            origin = _WS_ORIGIN.format(origin=self.ws_origin)
        return _KAMAILIO_CFG.format(
            host=self.host,
            port=self.port,
            modules=_KAMAILIO_MODULES,
            worker_host=self.worker_host,
            worker_port=self.worker_port,
            realm=self.realm,
            secret=self.secret,
            password_hex=PHONE_PASSWORD_HEX,
            disable_tcp="no" if ws else "yes",
            ws_listen=_WS_LISTEN.format(host=self.host, ws_port=self.ws_port) if ws else "",
            ws_modules=_WS_MODULES if ws else "",
            ws_requests=_WS_REQUESTS.format() if ws else "",
            ws_alias=_WS_ALIAS.format() if ws else "",
            ws_routes=_WS_ROUTES.format(
                realm=self.realm,
                secret=self.secret,
                ws_port=self.ws_port,
                origin_check=origin,
            )
            if ws
            else "",
        )

    def argv(self, binary: str) -> list[str]:
        return [
            binary,
            "-DD",
            "-E",
            "-f",
            str(self.workdir / "kamailio.cfg"),
            "-P",
            str(self.workdir / "kamailio.pid"),
            "-Y",
            str(self.workdir),
            "-m",
            "64",
            "-M",
            "8",
        ]


def start_kamailio(settings: KamailioSettings) -> ManagedProcess:
    binary = require_binary("kamailio", "kamailio")
    ensure_free(settings.host, settings.port, "kamailio SIP")
    settings.workdir.mkdir(parents=True, exist_ok=True)
    config = settings.workdir / "kamailio.cfg"
    config.touch(mode=0o600)  # it holds the edge secret
    config.write_text(settings.config_text())
    require_module("crypto", "kamailio-tls-modules")
    if settings.ws_port is not None:
        require_module("websocket", "kamailio-websocket-modules")
        if not _is_free(settings.host, settings.ws_port, kinds=(socket.SOCK_STREAM,)):
            where = f"{settings.host}:{settings.ws_port}"
            raise ComponentError(f"kamailio WebSocket: port {where} is taken")
    check = subprocess.run(  # noqa: S603 - argv built here
        [binary, "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise ComponentError(f"generated kamailio.cfg is invalid: {check.stderr[-2000:]}")
    proc = ManagedProcess("kamailio", settings.argv(binary), settings.workdir / "kamailio.log")
    ports = [(settings.port, socket.SOCK_DGRAM)]
    if settings.ws_port is not None:
        ports.append((settings.ws_port, socket.SOCK_STREAM))
    proc.start(lambda: not any(_is_free(settings.host, p, kinds=(k,)) for p, k in ports))
    return proc


_JANUS_LIB = "/usr/lib/x86_64-linux-gnu/janus"
_JANUS_PLUGINS_OFF = [
    "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming",
    "textroom", "videocall", "videoroom", "voicemail",
]  # fmt: skip
_JANUS_TRANSPORTS_OFF = ["mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"]


@dataclass(frozen=True, slots=True)
class JanusSettings:
    """Janus with only AudioBridge and the HTTP API on ``host:http_port``."""

    workdir: Path
    host: str = "127.0.0.1"
    http_port: int = 8088
    rtp_port_min: int = 34000
    rtp_port_max: int = 34399

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}/janus"

    def config_files(self) -> dict[str, str]:
        plugins = ",".join(f"libjanus_{name}.so" for name in _JANUS_PLUGINS_OFF)
        transports = ",".join(f"libjanus_{name}.so" for name in _JANUS_TRANSPORTS_OFF)
        middle = (self.rtp_port_min + self.rtp_port_max) // 2
        return {
            "janus.jcfg": f"""general: {{
    configs_folder = "{self.workdir}"
    plugins_folder = "{_JANUS_LIB}/plugins"
    transports_folder = "{_JANUS_LIB}/transports"
    events_folder = "{_JANUS_LIB}/events"
    loggers_folder = "{_JANUS_LIB}/loggers"
    debug_level = 4
    session_timeout = 0
}}
media: {{
    rtp_port_range = "{self.rtp_port_min}-{middle}"
}}
plugins: {{
    disable = "{plugins}"
}}
transports: {{
    disable = "{transports}"
}}
""",
            "janus.plugin.audiobridge.jcfg": f"""general: {{
    rtp_port_range = "{middle + 1}-{self.rtp_port_max}"
    local_ip = "{self.host}"
    events = false
}}
""",
            "janus.transport.http.jcfg": f"""general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {self.http_port}
    ip = "{self.host}"
    https = false
}}
admin: {{
    admin_http = false
}}
""",
        }


def start_janus(settings: JanusSettings) -> ManagedProcess:
    binary = require_binary("janus", "janus")
    ensure_free(settings.host, settings.http_port, "Janus HTTP API")
    settings.workdir.mkdir(parents=True, exist_ok=True)
    for name, text in settings.config_files().items():
        (settings.workdir / name).write_text(text)
    argv = [binary, "-F", str(settings.workdir), "-C", str(settings.workdir / "janus.jcfg")]
    proc = ManagedProcess("janus", argv, settings.workdir / "janus.log")
    proc.start(lambda: not _is_free(settings.host, settings.http_port, kinds=(socket.SOCK_STREAM,)))
    return proc
