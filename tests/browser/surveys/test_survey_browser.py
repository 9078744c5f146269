"""A visitor on a client's site ends a chat, answers the survey in the widget, and the
supervisor sees NPS and CSAT on the figures dashboard (tiles, trend chart, tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from browser.chat.test_chat_browser import client_site, sign_in
from integration.routing.test_routing_api import add_queue
from testkit import LiveServer, World

pytestmark = pytest.mark.browser
__all__ = ["client_site"]  # the client's own site (another origin), a fixture


def test_a_visitor_answers_after_the_chat_and_the_supervisor_sees_nps(
    browser: Browser,
    server: LiveServer,
    world: World,
    database_url: str,
    client_site: tuple[str, Path],
    client_factory: Any,
) -> None:
    site, site_root = client_site
    queue_id = add_queue(database_url, world.tenants["a"], "webchat")
    admin = client_factory()
    admin.sign_in(world.account("a", "administrator").username)
    survey = admin.request("PUT", f"/api/v1/queues/{queue_id}/survey", json={"channels": ["chat"]})
    assert survey.status_code == 200, survey.text
    widget = admin.request(
        "POST",
        "/api/v1/chat/widgets",
        json={
            "name": "co-op site",
            "topics": [
                {"code": "order", "label_ja": "ご注文", "label_en": "Orders", "queue_id": queue_id}
            ],
            "allowed_origins": [site],
        },
    ).json()["id"]
    (site_root / "index.html").write_text(
        "<!doctype html><html><body><h1>Izumi co-op</h1>"
        f'<script src="{server.url}/static/chat/widget.js" data-widget="{widget}" '
        'data-lang="ja" async></script></body></html>',
        encoding="utf-8",
    )

    visitor = browser.new_context(locale="ja-JP").new_page()
    visitor.set_default_timeout(10_000)
    visitor.goto(f"{site}/index.html")
    root = visitor.locator("[data-tsunagi-chat]")
    root.get_by_test_id("chat-launcher").click()
    form = root.get_by_test_id("chat-prechat")
    form.locator("input[name=name]").fill("小川 みどり")
    form.locator("button[type=submit]").click()
    root.get_by_test_id("chat-input").fill("配送日を変えたいです")
    root.get_by_test_id("chat-send").click()
    expect(root.get_by_test_id("chat-messages")).to_contain_text("配送日を変えたいです")
    root.get_by_test_id("chat-end").click()

    asked = root.get_by_test_id("chat-survey")
    expect(asked).to_contain_text("満足されましたか")
    expect(asked).to_contain_text("すすめたいと思いますか")
    asked.get_by_test_id("survey-send").click()  # nothing chosen: told, nothing sent
    expect(root.get_by_test_id("chat-error")).to_have_text("点数を選んでください")
    asked.get_by_role("radiogroup", name="今回の対応にどの程度満足されましたか？").get_by_label(
        "5"
    ).check()
    asked.get_by_test_id("survey-nps").locator("input[value='9']").check()
    asked.get_by_test_id("survey-comment").fill("とても丁寧でした")
    asked.get_by_test_id("survey-send").click()
    expect(root.get_by_test_id("survey-thanks")).to_have_text("ご回答ありがとうございました。")
    expect(root.get_by_test_id("chat-error")).to_have_text("")

    board = browser.new_context(locale="en-US").new_page()
    board.set_default_timeout(10_000)
    sign_in(board, server, world.account("a", "supervisor").username)
    board.goto(f"{server.url}/figures")
    for _ in range(40):  # the projector folds the answer within moments
        if board.get_by_test_id("fig-nps").inner_text() != "—":
            break
        board.wait_for_timeout(250)
        board.reload()
    expect(board.get_by_test_id("fig-nps")).to_have_text("+100.0")
    expect(board.get_by_test_id("fig-csat")).to_have_text("100.0%")
    trend = board.get_by_test_id("fig-nps-trend")
    expect(trend).to_be_visible()
    assert trend.locator("polyline.sl-line").count() == 1
    assert trend.locator("polyline.line2").count() == 1
    expect(board.get_by_test_id("fig-no-answers")).to_have_count(0)
    expect(board.get_by_test_id("fig-queues")).to_contain_text("+100.0")
    # The NPS tile opens the answered contacts, each with its scores.
    board.get_by_test_id("fig-nps-tile").click()
    board.wait_for_url("**/figures/contacts?**survey=answered**")
    expect(board.get_by_test_id("fig-contact-nps")).to_have_text(["9"])
    expect(board.get_by_test_id("fig-contact-csat")).to_have_text(["5"])
    board.go_back()
    # The same dashboard in Japanese.
    board.locator("form.lang button[value=ja]").click()
    expect(board.get_by_test_id("fig-satisfaction")).to_contain_text("4〜5 と回答した割合")
    expect(board.get_by_test_id("fig-satisfaction")).to_contain_text("推奨者")
