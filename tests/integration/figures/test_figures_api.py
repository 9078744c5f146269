"""Figures through the running app on both profiles: the background projector, the report
API, drill-down, CSV and Excel exports with formula injection made inert, the dashboard."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import openpyxl

from integration.figures.figures_seed import EVIL, one_handled_contact
from testkit import Browserless, LiveServer, World, run


def _signed_in(server: LiveServer, world: World, role: str, tenant: str = "a") -> Browserless:
    client = Browserless(server.url)
    assert client.sign_in(world.account(tenant, role).username).status_code == 303
    return client


def _wait_for_offered(client: Browserless, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        body = client.request("GET", "/api/v1/figures/report", params={"grain": "total"}).json()
        rows = body["rows"]
        if rows and rows[0]["figures"]["offered"] == count:
            return body
        assert time.monotonic() < deadline, f"the projector did not fold: {body}"
        time.sleep(0.1)


def test_figures_api_exports_and_dashboard(
    server: LiveServer, world: World, database_url: str
) -> None:
    queue_id = run(lambda: one_handled_contact(database_url, world, EVIL))
    manager = _signed_in(server, world, "manager")
    body = _wait_for_offered(manager, 1)
    total = body["rows"][0]["figures"]
    assert (total["answered"], total["abandoned"], total["fcr_rate"]) == (1, 0, 1.0)

    by_queue = manager.request(
        "GET", "/api/v1/figures/report", params={"grain": "60", "by": "queue,category"}
    ).json()["rows"]
    assert [(r["keys"], r["labels"][0]) for r in by_queue] == [([str(queue_id), EVIL], "Billing")]

    agents = manager.request(
        "GET", "/api/v1/figures/report", params={"table": "agents", "by": "agent"}
    ).json()["rows"]
    assert agents[0]["measures"]["handled"] == 1
    assert agents[0]["figures"]["occupancy"] is not None

    drilled = manager.request("GET", "/api/v1/figures/contacts", params={"category": EVIL})
    assert drilled.status_code == 200 and len(drilled.json()) == 1

    # CSV: the category cell is text, not a formula.
    csv_response = manager.request("GET", "/api/v1/figures/report.csv", params={"by": "category"})
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert rows[1][1] == "'" + EVIL
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)

    # Excel: read back with openpyxl; the cell holds text and no formula.
    xlsx = manager.request("GET", "/api/v1/figures/report.xlsx", params={"by": "category"})
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows()]
    assert values[1][1].value == "'" + EVIL
    assert values[1][1].data_type == "s"
    assert all(cell.data_type != "f" for row in values for cell in row)

    # The dashboard draws its charts; a filter that matches nothing empties them.
    page = manager.request("GET", "/figures")
    assert page.status_code == 200
    assert 'data-testid="fig-volume"' in page.text and 'class="bar answered"' in page.text
    assert "Billing" in page.text
    empty = manager.request("GET", "/figures", params={"channel": "chat"})
    assert 'class="bar answered"' not in empty.text
    assert 'data-testid="fig-no-data"' in empty.text
    drill_page = manager.request("GET", "/figures/contacts", params={"category": EVIL})
    assert drill_page.status_code == 200 and 'data-contact="' in drill_page.text

    # Rebuild agrees with what the projector maintained.
    admin = _signed_in(server, world, "administrator")
    rebuilt = admin.request("POST", "/api/v1/figures/rebuild", json={})
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["equal"] is True

    # Another tenant's client viewer sees nothing of tenant a; a communicator sees no figures.
    viewer_b = _signed_in(server, world, "client_viewer", "b")
    other = viewer_b.request("GET", "/api/v1/figures/report", params={"grain": "total"}).json()
    assert [row["measures"]["offered"] for row in other["rows"]] == [0]
    communicator = _signed_in(server, world, "communicator")
    assert communicator.request("GET", "/api/v1/figures/report").status_code == 403
    assert manager.request("POST", "/api/v1/figures/rebuild", json={}).status_code == 403
    for client in (manager, admin, viewer_b, communicator):
        client.close()


def test_bad_report_parameters_are_refused(server: LiveServer, world: World) -> None:
    manager = _signed_in(server, world, "manager")
    for params in (
        {"grain": "year"},
        {"by": "queue,channel,category"},
        {"table": "agents", "by": "nothing"},
        {"day_from": "2026-02-01", "day_to": "2026-01-01"},
    ):
        response = manager.request("GET", "/api/v1/figures/report", params=params)
        assert response.status_code == 422, (params, response.text)
    manager.close()
