"""Customers over the API on both profiles: screen-pop lookup, audited reads, import, merge."""

from __future__ import annotations

from typing import Any

from testkit import Browserless, World


def signed_in(client_factory: Any, world: World, tenant: str, role: str) -> Browserless:
    client: Browserless = client_factory()
    assert client.sign_in(world.account(tenant, role).username).status_code == 303
    return client


def create(client: Browserless, **fields: Any) -> str:
    response = client.request("POST", "/api/v1/customers", json=fields)
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


def test_screen_pop_finds_the_caller_and_audits_the_read(client_factory, world: World) -> None:
    desk = signed_in(client_factory, world, "a", "communicator")
    customer_id = create(
        desk,
        name="山田 花子",
        name_kana="ヤマダ ハナコ",
        vip=True,
        identifiers=[{"kind": "phone", "value": "090-1111-2222", "label": "mobile"}],
    )
    found = desk.http.get(
        "/api/v1/customers/lookup",
        params={"kind": "phone", "value": "+81 90 1111 2222", "reason": "incoming call"},
    )
    assert found.status_code == 200, found.text
    assert [(c["id"], c["name"], c["vip"]) for c in found.json()] == [
        (customer_id, "山田 花子", True)
    ]
    no_reason = desk.http.get(f"/api/v1/customers/{customer_id}")
    assert no_reason.status_code == 422
    other = signed_in(client_factory, world, "b", "communicator")
    assert (
        other.http.get(f"/api/v1/customers/{customer_id}", params={"reason": "x"}).status_code
        == 404
    )
    assert (
        other.http.get(
            "/api/v1/customers/lookup",
            params={"kind": "phone", "value": "09011112222", "reason": "incoming call"},
        ).json()
        == []
    )
    viewer = signed_in(client_factory, world, "a", "client_viewer")
    assert (
        viewer.http.get(f"/api/v1/customers/{customer_id}", params={"reason": "x"}).status_code
        == 403
    )
    admin = signed_in(client_factory, world, "a", "administrator")
    reads = admin.http.get("/api/v1/audit", params={"action": "customer.read"}).json()
    assert [(r["resource_id"], r["reason"]) for r in reads] == [(customer_id, "incoming call")]


def test_csv_import_previews_then_imports_good_rows(client_factory, world: World) -> None:
    supervisor = signed_in(client_factory, world, "a", "supervisor")
    csv_text = (
        "name,phones,emails,member_no,vip,tags\n"
        "佐藤 一郎,03-1234-5678;090-0000-1111,ichiro@example.jp,00000001,yes,高齢\n"
        ",03-0000-0000,,,no,\n"
        "鈴木 次郎,not-a-phone,,00000002,no,\n"
        "田中 三郎,06-1234-5678,saburo@example.jp,00000003,maybe,\n"
        "高橋 四郎,,shiro@example.jp,00000004,,\n"
    )
    headers = {"content-type": "text/csv"}
    preview = supervisor.request(
        "POST", "/api/v1/customers/import", content=csv_text.encode(), headers=headers
    )
    assert preview.status_code == 200, preview.text
    report = preview.json()
    assert (report["dry_run"], report["rows"], report["imported"], report["rejected"]) == (
        True,
        5,
        2,
        3,
    )
    assert [e["line"] for e in report["errors"]] == [3, 4, 5]
    assert "name" in report["errors"][0]["message"]
    assert "phone" in report["errors"][1]["message"]
    assert "vip" in report["errors"][2]["message"]
    lookup = {"kind": "member_no", "value": "00000001", "reason": "check"}
    assert supervisor.http.get("/api/v1/customers/lookup", params=lookup).json() == []
    done = supervisor.request(
        "POST", "/api/v1/customers/import?dry_run=false", content=csv_text.encode(), headers=headers
    )
    assert done.json()["imported"] == 2
    [ichiro] = supervisor.http.get("/api/v1/customers/lookup", params=lookup).json()
    assert ichiro["name"] == "佐藤 一郎"
    assert ichiro["tags"] == ["高齢"]
    assert {i["value"] for i in ichiro["identifiers"]} == {
        "03-1234-5678",
        "090-0000-1111",
        "ichiro@example.jp",
        "00000001",
    }
    bad_header = supervisor.request(
        "POST", "/api/v1/customers/import", content=b"nom,phones\nx,1\n", headers=headers
    )
    assert bad_header.status_code == 422
    assert "nom" in bad_header.json()["detail"]


def test_merge_moves_identifiers_and_orders(client_factory, world: World) -> None:
    desk = signed_in(client_factory, world, "a", "communicator")
    keep = create(desk, name="伊藤 五郎", identifiers=[{"kind": "phone", "value": "0311112222"}])
    duplicate = create(
        desk,
        name="伊藤 五郎",
        vip=True,
        identifiers=[{"kind": "email", "value": "goro@example.jp"}],
    )
    order = desk.request(
        "POST",
        f"/api/v1/customers/{duplicate}/orders",
        json={
            "number": "W-2026-0001",
            "ordered_on": "2026-11-30",
            "lines": [
                {
                    "product_code": "A1",
                    "product_name": "産直りんご",
                    "quantity": 2,
                    "amount_yen": 1280,
                },
                {"product_code": "B7", "product_name": "牛乳 1L", "amount_yen": 248},
            ],
        },
    )
    assert order.status_code == 201, order.text
    merged = desk.request("POST", f"/api/v1/customers/{keep}/merge", json={"merge_id": duplicate})
    assert merged.status_code == 204, merged.text
    again = desk.request("POST", f"/api/v1/customers/{keep}/merge", json={"merge_id": duplicate})
    assert again.status_code == 409
    [found] = desk.http.get(
        "/api/v1/customers/lookup",
        params={"kind": "email", "value": "GORO@example.jp", "reason": "call"},
    ).json()
    assert found["id"] == keep
    assert found["vip"] is True
    orders = desk.http.get(f"/api/v1/customers/{keep}/orders").json()
    assert [(o["number"], o["total_yen"], len(o["lines"])) for o in orders] == [
        ("W-2026-0001", 1528, 2)
    ]
    patched = desk.request(
        "PATCH",
        f"/api/v1/customers/{keep}",
        json={
            "notes": "配達は午後希望",
            "contact_preferences": {"phone": {"do_not_contact": True}},
        },
    )
    assert patched.status_code == 204, patched.text
    view = desk.http.get(f"/api/v1/customers/{keep}", params={"reason": "call"}).json()
    assert view["notes"] == "配達は午後希望"
    assert view["contact_preferences"] == {"phone": {"do_not_contact": True}}
    old = desk.http.get(f"/api/v1/customers/{duplicate}", params={"reason": "history"}).json()
    assert old["merged_into_id"] == keep
