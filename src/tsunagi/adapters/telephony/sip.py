"""SIP signalling on the Sippy B2BUA stack, run in a thread of its own.

sippy has its own event loop (``ED2``, a process-wide singleton) and is not
thread-safe. :class:`SipStack` starts that loop in a dedicated thread, imports
sippy *inside* it (so the singleton belongs to that thread), and crosses threads
in both directions explicitly:

* commands from asyncio are queued with ``ED2.callFromThread``;
* everything the stack observes is handed to ``on_signal`` **in the sippy
  thread**; the engine forwards it to its asyncio loop with
  ``call_soon_threadsafe``.

Every dialog the worker takes part in is a *leg* keyed by our own leg id. The
worker terminates each leg itself (it is a B2BUA, not a proxy): the platform joins
legs by media, never by SIP.
"""

# ruff: noqa: N806  -- sippy classes keep their own names when loaded lazily (see _sippy)
from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tsunagi.domain.errors import InvalidInputError
from tsunagi.ports.telephony import HangupCause

# sippy ships no type information and must be imported in its own thread (its
# event loop is a singleton bound to the importing thread): modules are loaded
# lazily through ``_sippy`` and handled as ``Any`` inside this module only.


def _sippy(module: str) -> Any:
    return importlib.import_module(f"sippy.{module}")


@dataclass(frozen=True, slots=True)
class Incoming:
    leg_id: str
    caller: str
    callee: str
    caller_name: str | None
    sdp: str | None
    call_id: str | None = None
    """The SIP Call-ID of the INVITE."""


@dataclass(frozen=True, slots=True)
class Ringing:
    leg_id: str


@dataclass(frozen=True, slots=True)
class Connected:
    leg_id: str
    sdp: str | None


@dataclass(frozen=True, slots=True)
class Failed:
    leg_id: str
    status: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    leg_id: str
    by_remote: bool


@dataclass(frozen=True, slots=True)
class Info:
    leg_id: str
    content_type: str
    body: str


SipSignal = Incoming | Ringing | Connected | Failed | Disconnected | Info


class _SipLog:
    """sippy insists on a logger; by default it appends every message to a system file."""

    def __init__(self, sink: Callable[[str], None] | None) -> None:
        self._sink = sink

    def write(self, *args: object, **kwargs: object) -> None:
        if self._sink is not None:
            self._sink("".join(str(arg) for arg in args))


class SipStack:
    """One SIP UDP endpoint on ``host:port`` (one per process: sippy is a singleton)."""

    def __init__(
        self,
        host: str,
        port: int,
        on_signal: Callable[[SipSignal], None],
        *,
        user_agent: str = "Tsunagi voice worker",
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._on_signal = on_signal
        self._user_agent = user_agent
        self._trace = trace
        self._running = False
        self._stopped = threading.Event()
        self._config: dict[str, Any] = {}
        self._uas: dict[str, Any] = {}
        self._leg_of_ua: dict[int, str] = {}
        self._new_leg_id: Callable[[], str] = _default_leg_id

    # -- lifecycle (asyncio thread) -------------------------------------------------

    def start(self, new_leg_id: Callable[[], str]) -> None:
        self._new_leg_id = new_leg_id
        _SippyThread.get().call_sync(self._setup)
        self._running = True

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self._stopped.clear()
        _SippyThread.get().call(self._shutdown)
        self._stopped.wait(10)

    @property
    def dialogs(self) -> int:
        return len(self._uas)

    # -- commands (any thread) -------------------------------------------------------

    def answer(self, leg_id: str, sdp: str) -> None:
        self._call(self._answer, leg_id, sdp)

    def ring(self, leg_id: str) -> None:
        self._call(self._ring, leg_id)

    def reject(self, leg_id: str, status: int, reason: str) -> None:
        self._call(self._reject, leg_id, status, reason)

    def hangup(self, leg_id: str) -> None:
        self._call(self._hangup, leg_id)

    def originate(
        self,
        leg_id: str,
        *,
        user: str,
        host: str,
        port: int,
        caller_id: str,
        sdp: str,
        timeout_s: float,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self._call(self._originate, leg_id, user, host, port, caller_id, sdp, timeout_s, auth)

    def _call(self, func: Callable[..., None], *args: object) -> None:
        if not self._running:
            raise RuntimeError("the SIP stack is not running")
        _SippyThread.get().call(func, *args)

    # -- the sippy thread ------------------------------------------------------------

    def _setup(self) -> None:
        SipConf = _sippy("SipConf").SipConf
        SipTransactionManager = _sippy("SipTransactionManager").SipTransactionManager

        SipConf.my_address = self.host
        SipConf.my_port = self.port
        SipConf.my_uaname = self._user_agent
        SipConf.allow_formats = (0, 8, 101)
        self._config = {
            "_sip_address": self.host,
            "_sip_port": self.port,
            "_sip_logger": _SipLog(self._trace),
        }
        with warnings.catch_warnings():
            # sippy probes IPv6 support with a socket it never closes.
            warnings.simplefilter("ignore", ResourceWarning)
            self._config["_sip_tm"] = SipTransactionManager(self._config, self._request)

    def _shutdown(self) -> None:
        for leg_id in list(self._uas):
            self._hangup(leg_id)
        # Let the BYEs leave before the sockets close; then end the loop.
        _sippy("Time.Timeout").Timeout(self._close, 0.3)

    def _close(self) -> None:
        # Close the sockets but keep the transaction tables: sippy's full shutdown()
        # empties them while transaction timers (e.g. 32 s ACK absorption) are still
        # scheduled in the shared loop, and those timers then fail on None.
        tm = self._config["_sip_tm"]
        tm.cp_timer.cancel()
        tm.l4r.shutdown()
        tm.req_cb = self._refuse
        self._stopped.set()

    @staticmethod
    def _refuse(req: Any, sip_t: Any) -> Any:
        return (req.genResponse(503, "Service Unavailable"), None, None)

    def _request(self, req: Any, sip_t: Any) -> Any:
        if req.getHFBody("to").getTag() is not None:
            return (req.genResponse(481, "Call Leg/Transaction Does Not Exist"), None, None)
        method = req.getMethod()
        if method == "INVITE":
            UA = _sippy("UA").UA

            leg_id = self._new_leg_id()
            ua = UA(self._config, event_cb=self._ua_event)
            ua.lContact = self._contact()
            self._track(leg_id, ua)
            return ua.recvRequest(req, sip_t)
        if method in ("OPTIONS", "NOTIFY"):
            return (req.genResponse(200, "OK"), None, None)
        return (req.genResponse(501, "Not Implemented"), None, None)

    def _contact(self) -> Any:
        SipAddress = _sippy("SipAddress").SipAddress
        SipContact = _sippy("SipContact").SipContact
        SipURL = _sippy("SipURL").SipURL

        url = SipURL(username="tsunagi", host=self.host, port=self.port)
        return SipContact(address=SipAddress(url=url))

    def _track(self, leg_id: str, ua: Any) -> None:
        self._uas[leg_id] = ua
        self._leg_of_ua[id(ua)] = leg_id
        ua.dead_cbs = (lambda *_: self._forget(leg_id),)

    def _forget(self, leg_id: str) -> None:
        ua = self._uas.pop(leg_id, None)
        if ua is not None:
            self._leg_of_ua.pop(id(ua), None)

    def _ua_event(self, event: Any, ua: Any) -> None:
        ev = _sippy("CCEvents")

        leg_id = self._leg_of_ua.get(id(ua))
        if leg_id is None:
            return
        signal: SipSignal | None = None
        if isinstance(event, ev.CCEventTry):
            call_id, cli, cld, body, _auth, name = event.getData()
            signal = Incoming(
                leg_id,
                str(cli or ""),
                str(cld or ""),
                name,
                _body_text(body),
                str(call_id) if call_id is not None else None,
            )
        elif isinstance(event, ev.CCEventRing):
            signal = Ringing(leg_id)
        elif isinstance(event, ev.CCEventConnect | ev.CCEventPreConnect):
            _code, _reason, body = event.getData()
            signal = Connected(leg_id, _body_text(body))
        elif isinstance(event, ev.CCEventFail):
            code = event.getData()[0]
            signal = Failed(leg_id, int(code))
        elif isinstance(event, ev.CCEventDisconnect):
            signal = Disconnected(leg_id, by_remote=True)
        elif isinstance(event, ev.CCEventInfo):
            body = event.getData()
            if body is not None:
                signal = Info(leg_id, str(body.mtype.name).lower(), str(body.content))
        if signal is not None:
            self._on_signal(signal)

    def _answer(self, leg_id: str, sdp: str) -> None:
        CCEventConnect = _sippy("CCEvents").CCEventConnect
        MsgBody = _sippy("MsgBody").MsgBody

        ua = self._uas.get(leg_id)
        if ua is not None:
            ua.recvEvent(CCEventConnect((200, "OK", MsgBody(sdp))))

    def _ring(self, leg_id: str) -> None:
        CCEventRing = _sippy("CCEvents").CCEventRing

        ua = self._uas.get(leg_id)
        if ua is not None:
            ua.recvEvent(CCEventRing((180, "Ringing", None)))

    def _reject(self, leg_id: str, status: int, reason: str) -> None:
        CCEventFail = _sippy("CCEvents").CCEventFail

        ua = self._uas.get(leg_id)
        if ua is not None:
            ua.recvEvent(CCEventFail((status, reason)))
            self._on_signal(Disconnected(leg_id, by_remote=False))

    def _hangup(self, leg_id: str) -> None:
        CCEventDisconnect = _sippy("CCEvents").CCEventDisconnect

        ua = self._uas.get(leg_id)
        if ua is None or ua.isDead():
            return
        _lowercase_transport(ua)
        ua.recvEvent(CCEventDisconnect())
        self._on_signal(Disconnected(leg_id, by_remote=False))

    def _originate(
        self,
        leg_id: str,
        user: str,
        host: str,
        port: int,
        caller_id: str,
        sdp: str,
        timeout_s: float,
        auth: tuple[str, str] | None,
    ) -> None:
        CCEventTry = _sippy("CCEvents").CCEventTry
        MsgBody = _sippy("MsgBody").MsgBody
        UA = _sippy("UA").UA

        # With a user name and password sippy answers a 401/407 digest challenge once
        # (the password goes only into the digest response, never into a log).
        username, password = auth if auth is not None else (None, None)
        ua = UA(
            self._config,
            event_cb=self._ua_event,
            nh_address=(host, port),
            expire_time=timeout_s,
            username=username,
            password=password,
        )
        ua.lContact = self._contact()
        self._track(leg_id, ua)
        ua.recvEvent(CCEventTry((None, caller_id, user, MsgBody(sdp), None, None)))


def _body_text(body: Any) -> str | None:
    if body is None:
        return None
    return str(body.localStr() if hasattr(body, "localStr") else body)


def _lowercase_transport(ua: Any) -> None:
    """sippy compares transports case-sensitively: a peer's Contact with
    ``transport=UDP`` (sipp sends that) makes its BYE fail with "unsupported
    transport". Normalise the dialog's target before sending in-dialog requests."""
    for name in ("rAddr", "rAddr0"):
        value = getattr(ua, name, None)
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
            setattr(ua, name, (value[0], value[1].lower()))
    target = getattr(ua, "rTarget", None)
    if target is not None and isinstance(getattr(target, "transport", None), str):
        target.transport = target.transport.lower()


class _SippyThread:
    """The one thread that runs sippy's event loop, for the life of the process.

    sippy's dispatcher is a process-wide singleton that wakes its loop by signalling
    the thread that imported it; a second loop thread after the first one ended
    crashes the process. So the loop thread is started once, imports sippy itself,
    and outlives every :class:`SipStack` (each of which only adds and removes a
    transaction manager).
    """

    _instance: _SippyThread | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._ed: Any = None
        self._thread = threading.Thread(target=self._run, name="sippy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._ed is None:
            raise RuntimeError("sippy's event loop did not start")

    @classmethod
    def get(cls) -> _SippyThread:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _run(self) -> None:
        ed = _sippy("Core.EventDispatcher").ED2
        ed.my_ident = threading.get_ident()
        self._ed = ed
        self._ready.set()
        while True:
            ed.loop()

    def call(self, func: Callable[..., None], *args: object) -> None:
        self._ed.callFromThread(func, *args)

    def call_sync(self, func: Callable[[], None]) -> None:
        self._ed.callFromThreadSync(func)


def _default_leg_id() -> str:
    raise RuntimeError("SipStack.start() sets the leg id factory")


def parse_target(target: str) -> tuple[str, str, int]:
    """``sip:user@host:port`` (or without ``sip:``/port; URI parameters ignored) →
    (user, host, port)."""
    rest = target.removeprefix("sip:").partition(";")[0]
    user, at, hostport = rest.rpartition("@")
    if not at or not user or not hostport:
        raise InvalidInputError(f"bad SIP target {target!r}")
    host, colon, port_text = hostport.partition(":")
    port = 5060
    if colon:
        if not port_text.isdigit():
            raise InvalidInputError(f"bad SIP target {target!r}")
        port = int(port_text)
    return user, host, port


def is_webrtc_target(target: str) -> bool:
    """Whether the target is a browser softphone: ``;transport=ws`` (or ``wss``) in its URI.
    The INVITE still goes over UDP to ``host:port`` (the edge, which reaches the browser
    over its WebSocket); the parameter only says the media must be WebRTC."""
    params = target.partition(";")[2].lower().split(";")
    return any(p in ("transport=ws", "transport=wss") for p in params)


def cause_of_status(status: int) -> HangupCause:
    """The hang-up cause a final SIP failure status stands for."""
    if status in (486, 600):
        return HangupCause.BUSY
    if status in (408, 480, 487):
        return HangupCause.NO_ANSWER
    if status in (603, 403):
        return HangupCause.REJECTED
    if status in (404, 503):
        return HangupCause.UNREACHABLE
    return HangupCause.ENGINE_FAILURE
