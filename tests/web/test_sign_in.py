"""Signing in and out through the real form, on both profiles."""

from __future__ import annotations

from testkit import PASSWORD, Browserless, World

HOME = {
    "communicator": "/home/communicator",
    "supervisor": "/home/supervisor",
    "manager": "/home/manager",
    "administrator": "/home/administrator",
    "client_viewer": "/home/client_viewer",
}


def test_each_role_lands_on_its_home(client_factory, world: World) -> None:
    for role, path in HOME.items():
        client: Browserless = client_factory()
        response = client.sign_in(world.account("a", role).username)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/"
        root = client.http.get("/")
        assert root.headers["location"] == path
        page = client.http.get(path)
        assert page.status_code == 200
        assert f"{role} of a" in page.text
        cookie = next(c for c in client.http.cookies.jar if c.name == "tsunagi_session")
        assert cookie.has_nonstandard_attr("HttpOnly")


def test_wrong_password_signs_nothing_in(client_factory, world: World) -> None:
    client: Browserless = client_factory()
    response = client.sign_in(world.account("a", "manager").username, PASSWORD + "x")
    assert response.status_code == 401
    assert "tsunagi_session" not in response.cookies
    assert client.http.get("/home/manager").status_code in (302, 303)


def test_session_id_changes_at_sign_in(client_factory, world: World) -> None:
    """Session fixation: a cookie planted before sign-in is never the session after it."""
    client: Browserless = client_factory()
    client.http.cookies.set("tsunagi_session", "planted-by-attacker", domain="127.0.0.1", path="/")
    client.sign_in(world.account("a", "supervisor").username)
    assert client.http.cookies.get("tsunagi_session") != "planted-by-attacker"
    first = client.http.cookies.get("tsunagi_session")
    client.sign_in(world.account("a", "supervisor").username)
    assert client.http.cookies.get("tsunagi_session") not in (first, None)


def test_sign_out_ends_the_session(client_factory, world: World) -> None:
    client: Browserless = client_factory()
    client.sign_in(world.account("a", "administrator").username)
    old = client.http.cookies.get("tsunagi_session")
    assert client.request("POST", "/logout").status_code == 303
    replay = Browserless(client.http.base_url.__str__())
    replay.http.cookies.set("tsunagi_session", old or "", domain="127.0.0.1", path="/")
    assert replay.http.get("/api/v1/me").status_code == 401
    replay.close()
