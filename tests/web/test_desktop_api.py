"""Screen-pop and history on both profiles: a contact from a known number pops its customer,
with past contacts, orders and likely products; unknown and ambiguous numbers too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from testkit import Browserless, World, run
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue
from tsunagi.web.docs import reference_app


def make_queue(database_url: str, tenant_id: UUID) -> str:
    async def insert() -> str:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                queue = Queue(
                    code="delivery",
                    name_ja="宅配",
                    name_en="Delivery",
                    channel="voice",
                    created_at=datetime.now(UTC),
                )
                session.add(queue)
                await session.flush()
                return str(queue.id)
        finally:
            await db.dispose()

    return run(insert)


def signed_in(client_factory: Any, world: World, role: str, tenant: str = "a") -> Browserless:
    client: Browserless = client_factory()
    assert client.sign_in(world.account(tenant, role).username).status_code == 303
    return client


def new_contact(client: Browserless, queue_id: str) -> str:
    response = client.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    )
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["id"]
    return contact_id


def test_screen_pop_history_and_recommendations(
    client_factory, world: World, database_url: str
) -> None:
    queue_id = make_queue(database_url, world.tenants["a"])
    supervisor = signed_in(client_factory, world, "supervisor")
    desk = signed_in(client_factory, world, "communicator")
    customer = supervisor.request(
        "POST",
        "/api/v1/customers",
        json={"name": "木村 さくら", "identifiers": [{"kind": "phone", "value": "045-111-2222"}]},
    ).json()["id"]
    neighbour = supervisor.request("POST", "/api/v1/customers", json={"name": "林 一"}).json()["id"]
    for who, number, lines in (
        (customer, "A-1", [("P1", "産直たまご"), ("P2", "牛乳")]),
        (neighbour, "A-2", [("P1", "産直たまご"), ("P3", "食パン")]),
        (neighbour, "A-3", [("P2", "牛乳"), ("P3", "食パン"), ("P4", "納豆")]),
    ):
        added = supervisor.request(
            "POST",
            f"/api/v1/customers/{who}/orders",
            json={
                "number": number,
                "ordered_on": "2026-01-10",
                "lines": [
                    {"product_code": c, "product_name": n, "amount_yen": 300} for c, n in lines
                ],
            },
        )
        assert added.status_code == 201, added.text

    earlier = new_contact(supervisor, queue_id)
    assert supervisor.request(
        "PUT",
        f"/api/v1/contacts/{earlier}/party",
        json={"kind": "phone", "address": "045-111-2222"},
    ).json() == {"candidates": 1}
    assert (
        supervisor.request(
            "PUT",
            f"/api/v1/contacts/{earlier}/notes",
            json={"notes": "配達時間の変更", "sub_reason": "time"},
        ).status_code
        == 204
    )

    calling = new_contact(supervisor, queue_id)
    supervisor.request(
        "PUT",
        f"/api/v1/contacts/{calling}/party",
        json={"kind": "phone", "address": "+81 45 111 2222"},
    )
    pop = desk.http.get(f"/api/v1/contacts/{calling}/screen-pop")
    assert pop.status_code == 200, pop.text
    body = pop.json()
    assert body["customer"]["name"] == "木村 さくら"
    assert body["address"] == "+81 45 111 2222"
    assert [h["contact_id"] for h in body["history"]] == [calling, earlier]
    assert body["history"][1]["notes"] == "配達時間の変更"
    assert [h["sub_reason"] for h in body["history"]] == [None, "time"]
    assert body["orders"][0]["number"] == "A-1"
    assert [r["product_code"] for r in body["recommended"]][:2] == ["P3", "P4"]

    other = signed_in(client_factory, world, "communicator", tenant="b")
    assert other.http.get(f"/api/v1/contacts/{calling}/screen-pop").status_code == 404
    assert desk.http.get(f"/api/v1/customers/{customer}/history").status_code == 422
    page = desk.http.get(
        f"/api/v1/customers/{customer}/history", params={"reason": "follow-up call", "limit": 1}
    )
    assert [h["contact_id"] for h in page.json()] == [calling]
    admin = signed_in(client_factory, world, "administrator")
    reads = admin.http.get("/api/v1/audit", params={"action": "customer.read"}).json()
    assert f"contact {calling}" in {r["reason"] for r in reads}
    history_reads = admin.http.get("/api/v1/audit", params={"action": "customer.history_read"})
    # The pop's first page is audited with its record, in the same commit; then the page
    # read on its own.
    assert sorted(r["reason"] for r in history_reads.json()) == sorted(
        [f"contact {calling}", "follow-up call"]
    )


def test_unknown_and_ambiguous_callers(client_factory, world: World, database_url: str) -> None:
    queue_id = make_queue(database_url, world.tenants["a"])
    supervisor = signed_in(client_factory, world, "supervisor")
    for name in ("斉藤 一", "斉藤 二"):
        supervisor.request(
            "POST",
            "/api/v1/customers",
            json={"name": name, "identifiers": [{"kind": "phone", "value": "03-5555-0000"}]},
        )
    shared = new_contact(supervisor, queue_id)
    found = supervisor.request(
        "PUT", f"/api/v1/contacts/{shared}/party", json={"kind": "phone", "address": "0355550000"}
    )
    assert found.json() == {"candidates": 2}
    pop = supervisor.http.get(f"/api/v1/contacts/{shared}/screen-pop").json()
    assert pop["customer"] is None
    assert sorted(c["name"] for c in pop["candidates"]) == ["斉藤 一", "斉藤 二"]
    chosen = pop["candidates"][0]["id"]
    assert (
        supervisor.request(
            "PUT", f"/api/v1/contacts/{shared}/customer", json={"customer_id": chosen}
        ).status_code
        == 204
    )
    assert (
        supervisor.http.get(f"/api/v1/contacts/{shared}/screen-pop").json()["customer"]["id"]
        == chosen
    )

    stranger = new_contact(supervisor, queue_id)
    assert supervisor.request(
        "PUT", f"/api/v1/contacts/{stranger}/party", json={"kind": "phone", "address": "0399999999"}
    ).json() == {"candidates": 0}
    pop = supervisor.http.get(f"/api/v1/contacts/{stranger}/screen-pop").json()
    assert (pop["customer"], pop["candidates"]) == (None, [])
    bad = supervisor.request(
        "PUT", f"/api/v1/contacts/{stranger}/party", json={"kind": "fax", "address": "1"}
    )
    assert bad.status_code == 422


def test_caller_screen_pop_in_one_request(client_factory, world: World, database_url: str) -> None:
    """GET /api/v1/customers/screen-pop: the record and the first page of history from the
    caller's number, both audited with the reason; a shared number gives candidates and
    no history; another tenant's caller is nobody here."""
    queue_id = make_queue(database_url, world.tenants["a"])
    supervisor = signed_in(client_factory, world, "supervisor")
    desk = signed_in(client_factory, world, "communicator")
    customer = supervisor.request(
        "POST",
        "/api/v1/customers",
        json={"name": "森 千尋", "identifiers": [{"kind": "phone", "value": "06-1234-5678"}]},
    ).json()["id"]
    contacts = []
    for notes in ("初回のお問い合わせ", "再配達の依頼"):
        contact = new_contact(supervisor, queue_id)
        supervisor.request(
            "PUT",
            f"/api/v1/contacts/{contact}/party",
            json={"kind": "phone", "address": "0612345678"},
        )
        supervisor.request("PUT", f"/api/v1/contacts/{contact}/notes", json={"notes": notes})
        contacts.append(contact)

    pop = desk.http.get(
        "/api/v1/customers/screen-pop",
        params={"kind": "phone", "value": "+81 6 1234 5678", "reason": "incoming call"},
    )
    assert pop.status_code == 200, pop.text
    body = pop.json()
    assert (body["customer"]["id"], body["customer"]["name"]) == (customer, "森 千尋")
    assert body["candidates"] == []
    assert [h["contact_id"] for h in body["history"]] == contacts[::-1]  # newest first
    assert [h["notes"] for h in body["history"]] == ["再配達の依頼", "初回のお問い合わせ"]

    for name in ("斉藤 一", "斉藤 二"):
        supervisor.request(
            "POST",
            "/api/v1/customers",
            json={"name": name, "identifiers": [{"kind": "phone", "value": "03-5555-0000"}]},
        )
    shared = desk.http.get(
        "/api/v1/customers/screen-pop",
        params={"kind": "phone", "value": "0355550000", "reason": "shared line"},
    ).json()
    assert shared["customer"] is None and shared["history"] == []
    assert sorted(c["name"] for c in shared["candidates"]) == ["斉藤 一", "斉藤 二"]

    other = signed_in(client_factory, world, "communicator", tenant="b")
    theirs = other.http.get(
        "/api/v1/customers/screen-pop",
        params={"kind": "phone", "value": "06-1234-5678", "reason": "peek"},
    )
    assert theirs.json() == {"customer": None, "candidates": [], "history": []}
    for params in (
        {"kind": "phone", "value": "0612345678"},  # no reason
        {"kind": "fax", "value": "0612345678", "reason": "x"},
    ):
        assert desk.http.get("/api/v1/customers/screen-pop", params=params).status_code == 422

    admin = signed_in(client_factory, world, "administrator")
    reads = admin.http.get("/api/v1/audit", params={"action": "customer.read"}).json()
    assert sorted(
        r["reason"] for r in reads if r["reason"] in ("incoming call", "shared line")
    ) == [
        "incoming call",
        "shared line",
        "shared line",
    ]
    assert [r["resource_id"] for r in reads if r["reason"] == "incoming call"] == [customer]
    history_reads = admin.http.get(
        "/api/v1/audit", params={"action": "customer.history_read"}
    ).json()
    assert [(r["resource_id"], r["reason"]) for r in history_reads] == [(customer, "incoming call")]
    theirs_audited = signed_in(client_factory, world, "administrator", tenant="b").http.get(
        "/api/v1/audit", params={"action": "customer.read"}
    )
    assert theirs_audited.json() == []  # nothing opened, nothing audited


def test_caller_screen_pop_is_in_the_openapi_document() -> None:
    document = reference_app().openapi_schema.to_schema()
    operation = document["paths"]["/api/v1/customers/screen-pop"]["get"]
    assert {p["name"]: p["required"] for p in operation["parameters"]} == {
        "kind": True,
        "value": True,
        "reason": True,
    }
    assert "audited" in operation["description"]
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"customer", "candidates", "history"}
