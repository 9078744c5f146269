"""The knowledge API through HTTP on both profiles: create, publish, search in Japanese,
read, revise with a stale version (409), scripts, suggestions, and role limits."""

from __future__ import annotations

from collections.abc import Callable

from testkit import Browserless, World


def signed_in(client_factory: Callable[[], Browserless], world: World, role: str) -> Browserless:
    client = client_factory()
    assert client.sign_in(world.account("a", role).username).status_code == 303
    return client


ARTICLES = "/api/v1/knowledge/articles"


def test_article_life_through_the_api(client_factory, world: World) -> None:  # type: ignore[no-untyped-def]
    editor = signed_in(client_factory, world, "supervisor")
    created = editor.request(
        "POST",
        ARTICLES,
        json={
            "title": "今日の配送が来ない",
            "body": "配送状況はマイページで確認できます。",
            "category_code": "delivery",
            "visibility": "public",
            "publish": True,
        },
    )
    assert created.status_code == 201, created.text
    article = created.json()
    assert (article["status"], article["version"]) == ("published", 1)

    communicator = signed_in(client_factory, world, "communicator")
    hits = communicator.request("GET", "/api/v1/knowledge/search", params={"q": "配送 来ない"})
    assert hits.status_code == 200
    assert [hit["id"] for hit in hits.json()] == [article["id"]]

    revised = editor.request(
        "PATCH",
        f"{ARTICLES}/{article['id']}",
        json={
            "title": "配送が遅れているとき",
            "body": "天候で遅れることがあります。",
            "visibility": "public",
            "expected_version": 1,
        },
    )
    assert revised.status_code == 200, revised.text
    assert revised.json()["current_version"] == 2
    stale = editor.request(
        "PATCH",
        f"{ARTICLES}/{article['id']}",
        json={"title": "x", "body": "y", "expected_version": 1},
    )
    assert stale.status_code == 409
    published = editor.request("POST", f"{ARTICLES}/{article['id']}/publish", json={})
    assert published.status_code == 200, published.text
    assert published.json()["published_version"] == 2
    versions = communicator.request("GET", f"{ARTICLES}/{article['id']}/versions").json()
    assert [v["version"] for v in versions] == [2, 1]

    # Communicators read but do not write.
    refused = communicator.request("POST", ARTICLES, json={"title": "x", "body": "y"})
    assert refused.status_code == 403
    archived = editor.request("POST", f"{ARTICLES}/{article['id']}/archive")
    assert archived.status_code == 204
    gone = communicator.request("GET", "/api/v1/knowledge/search", params={"q": "天候"})
    assert gone.json() == []


def test_unknown_article_is_404_for_every_method(client_factory, world: World) -> None:  # type: ignore[no-untyped-def]
    editor = signed_in(client_factory, world, "supervisor")
    missing = f"{ARTICLES}/{world.tenants['b']}"
    assert editor.request("GET", missing).status_code == 404
    put = editor.request("PATCH", missing, json={"title": "t", "body": "b"})
    assert put.status_code == 404, put.text
    assert editor.request("POST", missing + "/publish", json={}).status_code == 404
    assert editor.request("POST", missing + "/archive").status_code == 404
    assert editor.request("POST", missing + "/fill", json={}).status_code == 404


def test_scripts_and_suggestions(client_factory, world: World) -> None:  # type: ignore[no-untyped-def]
    editor = signed_in(client_factory, world, "administrator")
    script = editor.request(
        "POST",
        ARTICLES,
        json={
            "title": "受電時の第一声",
            "body": "{customer.name}様、お電話ありがとうございます。<b>{agent.name}</b>です。",
            "kind": "script",
            "category_code": "scripts",
            "publish": True,
        },
    ).json()
    editor.request(
        "POST",
        ARTICLES,
        json={
            "title": "ガス臭いとき",
            "body": "窓を開け、ガス会社の緊急連絡先へ電話してください。",
            "category_code": "gas",
            "publish": True,
        },
    )
    communicator = signed_in(client_factory, world, "communicator")
    filled = communicator.request(
        "POST",
        f"{ARTICLES}/{script['id']}/fill",
        json={"values": {"customer.name": "{agent.name}"}},
    )
    assert filled.status_code == 200
    # A value is inserted as text and never expanded again.
    assert filled.json() == {
        "text": "{agent.name}様、お電話ありがとうございます。<b>{agent.name}</b>です。",
        "missing": ["agent.name"],
    }
    suggested = communicator.request(
        "POST", "/api/v1/knowledge/suggestions", json={"text": "ガスの臭いがする", "limit": 2}
    )
    assert suggested.status_code == 200, suggested.text
    body = suggested.json()
    assert body["categories"][0]["code"] == "gas"
    assert body["articles"][0]["title"] == "ガス臭いとき"
    viewer = signed_in(client_factory, world, "client_viewer")
    assert (
        viewer.request("POST", "/api/v1/knowledge/suggestions", json={"text": "x"}).status_code
        == 403
    )


def test_the_knowledge_page_renders(client_factory, world: World) -> None:  # type: ignore[no-untyped-def]
    communicator = signed_in(client_factory, world, "communicator")
    page = communicator.request("GET", "/knowledge")
    assert page.status_code == 200
    assert 'data-testid="kb-search"' in page.text
    assert 'data-testid="kb-create"' not in page.text  # communicators do not edit
    editor = signed_in(client_factory, world, "supervisor")
    assert 'data-testid="kb-create"' in editor.request("GET", "/knowledge").text
