"""Stores, sections and stock status: a finished audit sets them; stock.low once per crossing."""

from __future__ import annotations

import uuid

from tests.conftest import SAMPLES, auth, post_audit, problem, wait_for


def events_of(client, key: str, type_: str) -> list[dict]:
    return client.get("/v1/events", query_string={"type": type_}, headers=auth(key)).get_json()["items"]


def audit_done(client, key: str, store: str, aisle: str) -> dict:
    body = post_audit(client, key, [SAMPLES[0].read_bytes()], store=store, aisle=aisle).get_json()
    return wait_for(client, f"/v1/audits/{body['audit_id']}", key)


def test_stock_status_and_one_stock_low_per_crossing(client, api_key, worker):
    store = f"st-{uuid.uuid4().hex[:6]}"
    assert client.post("/v1/stores", json={"id": store, "name": "Main St"}, headers=auth(api_key)).status_code == 201
    section = client.post(f"/v1/stores/{store}/sections", json={"aisle": "7", "critical": 1000, "target": 2000},
                          headers=auth(api_key)).get_json()
    assert section["status"] == "unknown"
    first = audit_done(client, api_key, store, "7")  # a sample shelf has far fewer than 1000 facings
    assert first["stock_status"] == "critical"
    assert first["facings"] == sum(first["counts"].values())
    lows = events_of(client, api_key, "stock.low")
    assert len(lows) == 1
    assert lows[0]["data"]["section"]["id"] == section["id"]
    assert lows[0]["data"]["audit_id"] == first["id"]
    second = audit_done(client, api_key, store, "7")  # still critical: no second event
    assert second["stock_status"] == "critical"
    assert len(events_of(client, api_key, "stock.low")) == 1
    client.patch(f"/v1/stores/{store}/sections/{section['id']}", json={"critical": 1, "target": 2},
                 headers=auth(api_key))
    assert audit_done(client, api_key, store, "7")["stock_status"] == "ok"
    client.patch(f"/v1/stores/{store}/sections/{section['id']}", json={"critical": 1000, "target": 2000},
                 headers=auth(api_key))
    assert audit_done(client, api_key, store, "7")["stock_status"] == "critical"
    assert len(events_of(client, api_key, "stock.low")) == 2  # a new crossing, a new event
    listed = client.get(f"/v1/stores/{store}/sections", headers=auth(api_key)).get_json()["items"]
    assert [s["status"] for s in listed] == ["critical"]
    other_aisle = audit_done(client, api_key, store, "9")  # no section for this aisle
    assert other_aisle["stock_status"] is None
    history = client.get(f"/v1/stores/{store}/stock", query_string={"aisle": "7"}, headers=auth(api_key))
    points = history.get_json()["items"]
    assert [p["stock_status"] for p in points] == ["critical", "critical", "ok", "critical"]
    assert all(p["facings"] == first["facings"] and p["missing_facings"] is not None for p in points)
    feed = client.get(f"/v1/stores/{store}/activity", query_string={"limit": 200}, headers=auth(api_key))
    kinds = [a["kind"] for a in feed.get_json()["items"]]
    assert kinds.count("audit_done") == 5
    assert kinds.count("alert_raised") == 2
    assert kinds.count("alert_cleared") == 1
    assert kinds.count("levels_changed") == 2
    assert kinds[0] == "audit_done"  # newest first: the aisle-9 audit
    page = client.get(f"/v1/stores/{store}/activity", query_string={"limit": 3}, headers=auth(api_key)).get_json()
    rest = client.get(f"/v1/stores/{store}/activity", query_string={"limit": 200, "cursor": page["next_cursor"]},
                      headers=auth(api_key)).get_json()
    assert len(page["items"]) + len(rest["items"]) == len(kinds)


def test_store_and_section_errors(client, api_key, other_key):
    store = f"st-{uuid.uuid4().hex[:6]}"
    client.post("/v1/stores", json={"id": store}, headers=auth(api_key))
    problem(client.post("/v1/stores", json={"id": store}, headers=auth(api_key)), 409, "store_exists")
    problem(client.post("/v1/stores", json={"id": "bad store"}, headers=auth(api_key)), 422, "invalid_id")
    problem(client.post("/v1/stores", data={"id": "x"}, headers=auth(api_key)), 415, "unsupported_media_type")
    made = client.post(f"/v1/stores/{store}/sections", json={"aisle": "1"}, headers=auth(api_key)).get_json()
    problem(client.post(f"/v1/stores/{store}/sections", json={"aisle": "1"}, headers=auth(api_key)), 409,
            "section_exists")
    problem(client.post(f"/v1/stores/{store}/sections", json={"aisle": "2", "critical": 5, "target": 3},
                        headers=auth(api_key)), 422, "invalid_critical")
    problem(client.post(f"/v1/stores/{store}/sections", data="x", headers=auth(api_key)), 415,
            "unsupported_media_type")
    problem(client.post("/v1/stores/nope/sections", json={"aisle": "1"}, headers=auth(api_key)), 404,
            "store_not_found")
    problem(client.get("/v1/stores/nope/sections", headers=auth(api_key)), 404, "store_not_found")
    problem(client.patch(f"/v1/stores/{store}/sections/{uuid.uuid4()}", json={"critical": 1},
                         headers=auth(api_key)), 404, "section_not_found")
    problem(client.patch(f"/v1/stores/{store}/sections/{made['id']}", json={"critical": -1},
                         headers=auth(api_key)), 422, "invalid_critical")
    problem(client.patch(f"/v1/stores/{store}/sections/{made['id']}", data="x", headers=auth(api_key)), 415,
            "unsupported_media_type")
    problem(client.get("/v1/stores/nope/stock", headers=auth(api_key)), 404, "store_not_found")
    problem(client.get("/v1/stores/nope/activity", headers=auth(api_key)), 404, "store_not_found")
    problem(client.get(f"/v1/stores/{store}/stock", query_string={"since": "yesterday"}, headers=auth(api_key)),
            422, "invalid_since")
    problem(client.get(f"/v1/stores/{store}/activity", query_string={"limit": 0}, headers=auth(api_key)),
            422, "invalid_limit")
    # another tenant sees neither the store nor its sections
    problem(client.get(f"/v1/stores/{store}/sections", headers=auth(other_key)), 404, "store_not_found")
    assert client.get("/v1/stores", headers=auth(other_key)).get_json()["items"] == []
    stores_listed = client.get("/v1/stores", headers=auth(api_key)).get_json()["items"]
    assert store in {s["id"] for s in stores_listed}


def test_planogram_compliance_of_a_finished_audit(client, api_key, worker):
    store = f"st-{uuid.uuid4().hex[:6]}"
    client.post("/v1/stores", json={"id": store}, headers=auth(api_key))
    section = client.post(f"/v1/stores/{store}/sections", json={"aisle": "3"}, headers=auth(api_key)).get_json()
    first = audit_done(client, api_key, store, "3")
    job = client.get(f"/v1/jobs/{first['jobs'][0]['id']}", headers=auth(api_key)).get_json()
    rows = [r["facings"] for r in job["analytics"]["rows"]]
    planned = {"rows": [{"facings": n} for n in rows], "gaps_allowed": True}  # exactly what the shelf holds
    put = client.put(f"/v1/stores/{store}/sections/{section['id']}/planogram", json=planned, headers=auth(api_key))
    assert put.status_code == 200
    assert put.get_json()["planogram"] == planned
    assert audit_done(client, api_key, store, "3")["compliance"] == {"score": 1.0, "deviations": []}
    short = {"rows": [{"facings": rows[0] + 5}, *[{"facings": n} for n in rows[1:]]], "gaps_allowed": True}
    client.put(f"/v1/stores/{store}/sections/{section['id']}/planogram", json=short, headers=auth(api_key))
    result = audit_done(client, api_key, store, "3")["compliance"]
    assert result["deviations"] == [{"kind": "missing_facings", "row": 0, "expected": rows[0] + 5,
                                     "found": rows[0]}]
    assert result["score"] == round(1 - 5 / (sum(rows) + 5), 4)
    points = client.get(f"/v1/stores/{store}/stock", headers=auth(api_key)).get_json()["items"]
    assert [p["compliance"] for p in points] == [None, 1.0, result["score"]]
    # the history by section id, and from/to as the names for since/until
    stock = f"/v1/stores/{store}/stock"
    by_section = client.get(stock, query_string={"section": section["id"]}, headers=auth(api_key)).get_json()
    assert by_section["items"] == points
    assert client.get(stock, query_string={"from": "2099-01-01T00:00:00Z"}, headers=auth(api_key)
                      ).get_json()["items"] == []
    assert client.get(stock, query_string={"to": "2001-01-01T00:00:00Z"}, headers=auth(api_key)
                      ).get_json()["items"] == []
    assert len(client.get(stock, query_string={"from": "2001-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"},
                          headers=auth(api_key)).get_json()["items"]) == 3
    problem(client.get(stock, query_string={"section": str(uuid.uuid4())}, headers=auth(api_key)), 404,
            "section_not_found")
    problem(client.get(stock, query_string={"section": section["id"], "aisle": "9"}, headers=auth(api_key)), 422,
            "invalid_aisle")
    problem(client.put(f"/v1/stores/{store}/sections/{section['id']}/planogram", json={"rows": []},
                       headers=auth(api_key)), 422, "invalid_rows")
    problem(client.put(f"/v1/stores/{store}/sections/{uuid.uuid4()}/planogram", json=planned,
                       headers=auth(api_key)), 404, "section_not_found")
    problem(client.put(f"/v1/stores/{store}/sections/{section['id']}/planogram", data="x",
                       headers=auth(api_key)), 415, "unsupported_media_type")


def test_named_products_in_a_planogram_are_matched_by_appearance(client, api_key, worker):
    """A product named with a reference crop from an audited photo; found, then planned in the wrong row."""
    store = f"st-{uuid.uuid4().hex[:6]}"
    client.post("/v1/stores", json={"id": store}, headers=auth(api_key))
    section = client.post(f"/v1/stores/{store}/sections", json={"aisle": "4"}, headers=auth(api_key)).get_json()
    url = f"/v1/stores/{store}/sections/{section['id']}/planogram"
    first = audit_done(client, api_key, store, "4")
    job = client.get(f"/v1/jobs/{first['jobs'][0]['id']}", headers=auth(api_key)).get_json()
    analytics = job["analytics"]
    rows = [r["facings"] for r in analytics["rows"]]
    assert all(g["appearance"] for g in analytics["groups"])  # every group carries its look
    group = max(analytics["groups"], key=lambda g: g["facings"])  # the biggest block of one product
    reference = {"job_id": job["id"], "box": group["box"]}

    def plan(row: int, facings: int) -> dict:
        return {"rows": [{"facings": n, **({"products": [{"name": "hero", "facings": facings,
                                                          "reference": reference}]} if i == row else {})}
                         for i, n in enumerate(rows)], "gaps_allowed": True}

    put = client.put(url, json=plan(group["row"], 1000), headers=auth(api_key))
    assert put.status_code == 200
    assert put.get_json()["planogram"] == plan(group["row"], 1000)  # as set: the computed look stays inside
    short = audit_done(client, api_key, store, "4")["compliance"]["deviations"]
    [hero] = [d for d in short if d.get("product") == "hero"]
    assert hero["kind"] == "missing_facings"
    assert hero["row"] == group["row"]
    assert hero["found"] >= group["facings"]  # its own group at least: the reference is one of its facings
    found = hero["found"]
    client.put(url, json=plan(group["row"], found), headers=auth(api_key))
    assert audit_done(client, api_key, store, "4")["compliance"] == {"score": 1.0, "deviations": []}
    elsewhere = (group["row"] + 1) % len(rows)
    client.put(url, json=plan(elsewhere, found), headers=auth(api_key))
    moved = audit_done(client, api_key, store, "4")["compliance"]
    assert {"kind": "wrong_row", "row": group["row"], "product": "hero", "expected_row": elsewhere,
            "found": found} in moved["deviations"]
    assert {"kind": "missing_facings", "row": elsewhere, "product": "hero", "expected": found,
            "found": 0} in moved["deviations"]
    assert moved["score"] < 1.0
    # references must be this tenant's jobs, boxes within their photo
    bad = plan(group["row"], 1)
    bad["rows"][group["row"]]["products"][0]["reference"] = {"job_id": str(uuid.uuid4()), "box": group["box"]}
    problem(client.put(url, json=bad, headers=auth(api_key)), 422, "reference_not_found")
    bad["rows"][group["row"]]["products"][0]["reference"] = {"job_id": job["id"], "box": [0, 0, 99999, 10]}
    problem(client.put(url, json=bad, headers=auth(api_key)), 422, "reference_box_outside")


def test_levels_per_row_judge_the_section_by_its_worst_row(client, api_key, worker):
    store = f"st-{uuid.uuid4().hex[:6]}"
    client.post("/v1/stores", json={"id": store}, headers=auth(api_key))
    section = client.post(f"/v1/stores/{store}/sections", json={"aisle": "5", "critical": 1, "target": 2},
                          headers=auth(api_key)).get_json()
    assert section["rows"] is None
    first = audit_done(client, api_key, store, "5")
    assert first["stock_status"] == "ok"  # the total is well above its levels
    job = client.get(f"/v1/jobs/{first['jobs'][0]['id']}", headers=auth(api_key)).get_json()
    rows = [r["facings"] for r in job["analytics"]["rows"]]
    url = f"/v1/stores/{store}/sections/{section['id']}"
    # the top row needs one facing more than it has: the section is critical by that row alone
    levels = [{"critical": rows[0] + 1, "target": rows[0] + 5}, None]
    patched = client.patch(url, json={"rows": levels}, headers=auth(api_key)).get_json()
    assert patched["rows"] == levels
    assert patched["critical"] == 1  # the total's levels stay as they were
    assert patched["status"] == "critical"  # judged again at once on the audit already done
    [low] = events_of(client, api_key, "stock.low")
    assert low["data"]["rows"] == [{"row": 0, "facings": rows[0], "critical": rows[0] + 1, "target": rows[0] + 5,
                                    "status": "critical"}]
    second = audit_done(client, api_key, store, "5")
    assert second["stock_status"] == "critical"
    assert len(events_of(client, api_key, "stock.low")) == 1  # still critical: no second event
    points = client.get(f"/v1/stores/{store}/stock", headers=auth(api_key)).get_json()["items"]
    assert [p["row_facings"] for p in points] == [rows, rows]
    # only the target row-wise: low; then no row levels at all: ok again, and the alert cleared
    assert client.patch(url, json={"rows": [{"target": rows[0] + 1}]}, headers=auth(api_key)
                        ).get_json()["status"] == "low"
    assert client.patch(url, json={"critical": 1}, headers=auth(api_key)).get_json()["rows"] == [
        {"critical": None, "target": rows[0] + 1}]  # rows not given: kept
    cleared = client.patch(url, json={"rows": []}, headers=auth(api_key)).get_json()
    assert (cleared["rows"], cleared["status"]) == (None, "ok")
    kinds = [a["kind"] for a in client.get(f"/v1/stores/{store}/activity", headers=auth(api_key)).get_json()["items"]]
    assert "alert_cleared" in kinds
    assert "alert_raised" in kinds
    problem(client.patch(url, json={"rows": [{"critical": 9, "target": 3}]}, headers=auth(api_key)), 422,
            "invalid_critical")
