"""The desk softphone's pure parts: edge credentials, the WebRTC endpoint in the plan,
SIP targets with ``;transport=ws``, and the edge configuration with WebSocket."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from tsunagi.adapters.telephony.edge_auth import edge_secret, issue, password_for, phone_password
from tsunagi.adapters.telephony.processes import ComponentError, KamailioSettings
from tsunagi.adapters.telephony.sip import is_webrtc_target, parse_target
from tsunagi.voice.plan import VoicePlan

SECRET = "s" * 43


def test_a_credential_names_its_user_and_expiry_and_is_signed_with_the_edge_secret() -> None:
    cred = issue(SECRET, "aiko", now=1_000_000.7, ttl_s=3600)
    assert cred.sip_user == "aiko"
    assert cred.digest_user == "1003600:aiko"
    assert cred.expires_at == 1_003_600
    mac = hmac.new(SECRET.encode(), b"1003600:aiko", hashlib.sha256).digest()
    # kamailio's crypto_hmac_sha256 writes base64url without padding.
    assert cred.password == base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert "=" not in cred.password
    assert password_for("other" * 9, cred.digest_user) != cred.password
    with pytest.raises(ValueError, match="colon"):
        issue(SECRET, "a:b", now=0)


def test_a_phone_password_is_20_hex_digits_of_the_hmac_of_the_user_name() -> None:
    password = phone_password(SECRET, "aiko")
    mac = hmac.new(SECRET.encode(), b"phone:aiko", hashlib.sha256).hexdigest()
    assert password == mac[:20]
    assert set(password) <= set("0123456789abcdef")
    assert phone_password(SECRET, "ren") != password
    assert phone_password("other" * 9, "aiko") != password


def test_every_register_at_the_edge_is_authenticated() -> None:
    text = KamailioSettings(
        workdir=Path("/x"), worker_host="127.0.0.1", worker_port=5080, secret=SECRET
    ).config_text()
    assert 'route(PHONE_AUTH);\n        save("location");' in text
    assert f'crypto_hmac_sha256("phone:$aU", "{SECRET}", "$var(mac)");' in text
    assert "{s.substr,0,20}" in text
    assert "$aU != $tU || $aU != $fU" in text


def test_the_edge_secret_is_url_safe_text_of_the_derived_key() -> None:
    secret = edge_secret(bytes(range(32)))
    assert len(secret) == 43
    assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_softphone_agents_are_called_at_the_edge_over_websocket() -> None:
    plan = VoicePlan(
        numbers={},
        flows={},
        agent_domain="127.0.0.1:5060",
        softphone_agents=["aiko"],
        agents={"desk": "sip:desk@192.0.2.9:5060"},
    )
    assert plan.agent_endpoint("aiko") == "sip:aiko@127.0.0.1:5060;transport=ws"
    assert plan.agent_endpoint("ken") == "sip:ken@127.0.0.1:5060"
    everyone = VoicePlan(
        numbers={},
        flows={},
        agent_domain="edge:5060",
        softphone_agents=["*"],
        agents={"desk": "sip:desk@192.0.2.9:5060"},
    )
    assert everyone.agent_endpoint("ken") == "sip:ken@edge:5060;transport=ws"
    assert everyone.agent_endpoint("desk") == "sip:desk@192.0.2.9:5060"  # a fixed phone


def test_a_websocket_target_is_dialled_at_its_host_with_webrtc_media() -> None:
    assert parse_target("sip:aiko@127.0.0.1:5070;transport=ws") == ("aiko", "127.0.0.1", 5070)
    assert is_webrtc_target("sip:aiko@127.0.0.1:5070;transport=ws")
    assert is_webrtc_target("sip:aiko@edge;transport=WSS")
    assert not is_webrtc_target("sip:aiko@127.0.0.1:5070")
    assert not is_webrtc_target("sip:aiko@127.0.0.1:5070;transport=udp")


def test_the_edge_listens_for_websockets_and_checks_softphone_credentials() -> None:
    plain = KamailioSettings(
        workdir=Path("/x"), worker_host="127.0.0.1", worker_port=5080, secret=SECRET
    )
    assert "websocket" not in plain.config_text()
    assert "disable_tcp=yes" in plain.config_text()
    text = KamailioSettings(
        workdir=Path("/x"),
        worker_host="127.0.0.1",
        worker_port=5080,
        ws_port=5066,
        secret=SECRET,
        ws_origin="https://desk.example.com",
    ).config_text()
    assert "listen=tcp:127.0.0.1:5066" in text
    assert 'loadmodule "websocket.so"' in text
    assert f'crypto_hmac_sha256("$aU", "{SECRET}"' in text
    assert '$hdr(Origin) != "https://desk.example.com"' in text
    assert "route(SOFTPHONE_AUTH)" in text
    with pytest.raises(ComponentError, match="secret"):
        KamailioSettings(
            workdir=Path("/x"), worker_host="h", worker_port=1, ws_port=2, secret="short"
        ).config_text()
    with pytest.raises(ComponentError, match="secret"):
        KamailioSettings(workdir=Path("/x"), worker_host="h", worker_port=1).config_text()
    with pytest.raises(ComponentError, match="origin"):
        KamailioSettings(
            workdir=Path("/x"),
            worker_host="h",
            worker_port=1,
            ws_port=2,
            secret=SECRET,
            ws_origin='x"; exit',
        ).config_text()
