"""Outbound calls through a SIP trunk that demands digest authentication: sipp plays the
trunk, challenges the INVITE with 401 and answers only a correct Authorization.

401 rather than 407: sipp 3.6's ``verifyauth`` reads only the ``Authorization`` header
(with ``Proxy-Authorization`` it reports "authentication must be digest"). sippy answers
both challenges the same way (``UA.processChallenge``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from voice_peers import run_sipp_uas

from conftest import EventLog
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine
from tsunagi.adapters.telephony.processes import free_port
from tsunagi.ports.telephony import CallAnswered, CallHungUp, HangupCause, OriginateFailed

pytestmark = [pytest.mark.voice, pytest.mark.slow]

Engine = tuple[SippyRtpengineEngine, EventLog]
USER, PASSWORD = "tsunagi-trunk", "correct horse"

# A trunk: 401 to the first INVITE; the INVITE that follows must carry a digest for
# USER / PASSWORD (sipp's verifyauth), else 403. What it saw goes to its log file.
# sippy sends the new INVITE and the ACK of the 401 from separate threads, so either can
# arrive first: the ACK is taken before or after the INVITE, whose Via and CSeq are kept
# for the reply (``last_*`` would be the ACK's).
CHALLENGE = 'WWW-Authenticate: Digest realm="trunk.example", nonce="4f2b9c0e8d7a6b5c"\n'
SDP = (
    "Contact: <sip:trunk@[local_ip]:[local_port];transport=[transport]>\n"
    "Content-Type: application/sdp\nContent-Length: [len]\n\n"
    "v=0\no=trunk 53655765 2353687637 IN IP[local_ip_type] [local_ip]\ns=-\n"
    "c=IN IP[media_ip_type] [media_ip]\nt=0 0\nm=audio [media_port] RTP/AVP 0\n"
    "a=rtpmap:0 PCMU/8000"
)


def reply(status: str, rest: str, *, via: str = "[last_Via:]", cseq: str = "[last_CSeq:]") -> str:
    return (
        f"<send><![CDATA[\nSIP/2.0 {status}\n{via}\n[last_From:]\n"
        "[last_To:];tag=[pid]SIPpTag01[call_number]\n"
        f"[last_Call-ID:]\n{cseq}\n{rest}\n]]></send>"
    )


def trunk_scenario(user: str, password: str) -> str:
    kept = {"via": "Via: [$via]", "cseq": "CSeq: [$cseq]"}
    no_body = "Content-Length: 0\n"
    challenge = reply("401 Unauthorized", CHALLENGE + no_body)
    forbidden = reply("403 Forbidden", no_body, **kept)
    ok = reply("200 OK", SDP, **kept)
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="trunk demanding digest authentication">
  <recv request="INVITE"/>
  {challenge}
  <recv request="ACK" optional="true"/>
  <recv request="INVITE">
    <action>
      <ereg regexp="username=\\"[^\\"]*\\"" search_in="hdr"
            header="Authorization:" assign_to="user"/>
      <ereg regexp=".*" search_in="hdr" header="Via:" assign_to="via"/>
      <ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="cseq"/>
      <verifyauth assign_to="ok" username="{user}" password="{password}"/>
      <log message="INVITE authorization [$user] valid=[$ok]"/>
    </action>
  </recv>
  <recv request="ACK" timeout="500" ontimeout="decide"/>
  <label id="decide"/>
  <nop hide="true" test="ok" next="good"/>
  {forbidden}
  <recv request="ACK" next="done"/>
  <label id="good"/>
  {ok}
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="done"/>
  <pause milliseconds="200"/>
</scenario>
"""


SIPP_TRACES = ["-trace_logs", "-trace_msg", "-trace_err"]  # in tmp_path, for a failure


def trunk_log(workdir: Path) -> str:
    return "".join(p.read_text() for p in sorted(workdir.glob("*_logs.log")))


async def call_trunk(
    engine: Engine, tmp_path: Path, password: str
) -> tuple[str, asyncio.Task[object], Path]:
    worker, _ = engine
    scenario = tmp_path / "trunk.xml"
    scenario.write_text(trunk_scenario(USER, PASSWORD))
    port = free_port()
    trunk = asyncio.create_task(
        asyncio.to_thread(run_sipp_uas, scenario, port, tmp_path, extra=SIPP_TRACES)
    )
    await asyncio.sleep(0.5)  # sipp listening
    leg_id = await worker.originate(
        f"sip:0312345678@127.0.0.1:{port}",
        caller_id="0120000000",
        timeout_s=10,
        auth=(USER, password),
    )
    return leg_id, trunk, tmp_path


async def test_a_challenged_trunk_call_is_answered_with_the_right_credentials(
    engine: Engine, tmp_path: Path
) -> None:
    worker, log = engine
    leg_id, trunk, workdir = await call_trunk(engine, tmp_path, PASSWORD)
    await log.wait_for(CallAnswered, leg_id=leg_id)
    await worker.hangup(leg_id)
    await log.wait_for(CallHungUp, leg_id=leg_id)
    result = await trunk
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f'INVITE authorization username="{USER}" valid=true' in trunk_log(workdir)
    assert not log.of(OriginateFailed)


async def test_a_wrong_trunk_password_fails_the_call_and_nothing_is_answered(
    engine: Engine, tmp_path: Path
) -> None:
    _, log = engine
    leg_id, trunk, workdir = await call_trunk(engine, tmp_path, "wrong password")
    failed = await log.wait_for(OriginateFailed, leg_id=leg_id)
    assert (failed.sip_status, failed.cause) == (403, HangupCause.REJECTED)
    result = await trunk
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f'INVITE authorization username="{USER}" valid=false' in trunk_log(workdir)
    assert not log.of(CallAnswered)
