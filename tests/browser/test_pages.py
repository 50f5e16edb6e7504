"""The four pages, as a person uses them, in a real Chromium against the real farm."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.conftest import SAMPLES

PHONE = {"width": 390, "height": 844}


def finished(page, audit_id: str) -> dict:
    """Wait (through the API) until the audit is final."""
    import time

    for _ in range(300):
        audit = page.api("GET", f"/v1/audits/{audit_id}").json()
        if audit["status"] not in ("queued", "running"):
            return audit
        time.sleep(0.2)
    raise AssertionError(f"audit {audit_id} not finished")


def submit(page, store: str, aisle: str | None = None, photo=SAMPLES[0]) -> dict:
    data = {"store_id": store, **({"aisle": aisle} if aisle else {})}
    r = page.api("POST", "/v1/audits", data=data, files=[("photos", (photo.name, photo.read_bytes(), "image/jpeg"))])
    assert r.status_code == 202, r.text
    return finished(page, r.json()["audit_id"])


def test_inspector_upload_shows_the_boxes_the_api_counted(app_page, worker):
    p = app_page.page
    app_page.open("/app/inspector")
    p.set_input_files("#file", str(SAMPLES[2]))
    p.click("#analyse")
    p.wait_for_selector("#job-status .status.done")
    job_id = p.text_content("#job-id")
    job = app_page.api("GET", f"/v1/jobs/{job_id}").json()
    assert int(p.text_content("#count")) == job["detection_count"] > 0
    assert p.text_content("#shown").startswith(f"{job['detection_count']} of {job['detection_count']} boxes shown")
    assert p.text_content("#model-version") == job["model_version"]
    assert p.text_content("#gaps") == str(len(job["analytics"]["gaps"]))
    # the slider filters on the page: as many boxes as the API has at or above that confidence
    p.fill("#conf", "0.8")
    above = sum(d["confidence"] >= 0.8 for d in job["detections"])
    assert p.text_content("#shown").startswith(f"{above} of {job['detection_count']} boxes shown")
    p.focus("#canvas")
    p.keyboard.press("n")  # keyboard: step to the first box shown; its confidence appears
    assert re.match(r"confidence 0\.[89]\d|confidence 1\.00", p.text_content("#tip"))
    assert p.locator(f"#jobs button[data-job='{job_id}']").get_attribute("aria-pressed") == "true"
    pixels = p.evaluate("() => { const c = document.querySelector('#canvas'); return [c.width, c.height]; }")
    w, h = job["photo"]["width"], job["photo"]["height"]
    r = min(1.0, 1600 / max(w, h))  # the photo itself was drawn, not the empty placeholder canvas
    assert abs(pixels[0] - w * r) <= 1
    assert abs(pixels[1] - h * r) <= 1


@pytest.mark.parametrize("app_page", [PHONE], indirect=True)
def test_phone_audit_of_two_photos_retries_resumes_and_finishes(app_page, worker):
    p = app_page.page
    store = f"shop-{uuid.uuid4().hex[:6]}"
    assert app_page.api("POST", "/v1/stores", json={"id": store, "name": "Corner shop"}).status_code == 201
    app_page.api("POST", f"/v1/stores/{store}/sections", json={"aisle": "4", "name": "Snacks", "critical": 5,
                                                               "target": 10})
    keys: list[str] = []

    def first_upload_fails(route):  # the shop's Wi-Fi drops the first upload
        keys.append(route.request.headers.get("idempotency-key", ""))
        route.abort("connectionreset") if len(keys) == 1 else route.continue_()

    p.route("**/v1/audits", lambda route: first_upload_fails(route) if route.request.method == "POST"
            else route.continue_())
    app_page.open("/app/audit")
    p.select_option("#store", store)
    p.wait_for_selector("#aisle option[value='4']", state="attached")
    p.select_option("#aisle", "4")
    p.set_input_files("#camera", [str(SAMPLES[0]), str(SAMPLES[3])])
    p.wait_for_selector("#photos li:nth-child(2)")
    assert "Send audit (2 photos)" in p.text_content("#send")
    p.click("#send")
    p.wait_for_selector("#progress[data-audit-id]")
    audit_id = p.get_attribute("#progress", "data-audit-id")
    assert len(keys) == 2
    assert keys[0] == keys[1] != ""  # the retry carried the same Idempotency-Key
    p.reload()  # mid-audit: the page picks the audit up again
    p.wait_for_selector(f"#progress[data-audit-id='{audit_id}']")
    p.wait_for_selector("#jobs li[data-status='done']:nth-child(2)")
    p.wait_for_selector("#result:not(.hidden)")
    audit = app_page.api("GET", f"/v1/audits/{audit_id}").json()
    assert audit["status"] == "done"
    assert audit["aisle"] == "4"
    assert p.text_content("#total").startswith(f"{audit['facings']} products in 2 photos")
    listed = app_page.api("GET", "/v1/audits", params={"store_id": store}).json()["items"]
    assert [a["id"] for a in listed] == [audit_id]  # one audit, whatever the retries and the reload
    sent = [j["photo"] for j in audit["jobs"]]
    assert all(max(ph["width"], ph["height"]) <= 1600 for ph in sent)  # downscaled on the phone


def test_store_dashboard_shows_a_threshold_change_at_once(app_page, worker):
    p = app_page.page
    store = f"st-{uuid.uuid4().hex[:6]}"
    app_page.api("POST", "/v1/stores", json={"id": store, "name": "High St"})
    app_page.api("POST", f"/v1/stores/{store}/sections", json={"aisle": "2", "critical": 1, "target": 2})
    submit(app_page, store, "2", photo=SAMPLES[3])
    audit = submit(app_page, store, "2")  # two points on the facings chart; the newest judges the status
    app_page.open(f"/app/store?store={store}")
    status = p.locator("[data-testid='status-2']")
    status.wait_for()
    assert status.text_content() == "ok"
    p.wait_for_selector("#activity li[data-kind='audit_done'] img")  # the audit's thumbnail
    p.fill("#critical-2", str(audit["facings"] + 10))
    p.fill("#target-2", str(audit["facings"] + 20))
    p.get_by_role("button", name="save the levels of aisle 2").click()
    p.wait_for_selector("[data-testid='status-2']:text-is('critical')")
    p.wait_for_selector("#activity li[data-kind='alert_raised']")
    section = app_page.api("GET", f"/v1/stores/{store}/sections").json()["items"][0]
    assert (section["critical"], section["status"]) == (audit["facings"] + 10, "critical")


def test_review_correction_reaches_the_labels_export(app_page, worker, cli_env, tmp_path, tenant):
    from ops.cli import main

    p = app_page.page
    job_id = submit(app_page, "store-review", photo=SAMPLES[1])["jobs"][0]["id"]
    job = app_page.api("GET", f"/v1/jobs/{job_id}").json()
    boxes = [d["box"] for d in job["detections"]]
    app_page.open(f"/app/review?job={job_id}")
    p.wait_for_selector(f"#count:text-is('{len(boxes)}')")
    canvas = p.locator("#canvas").bounding_box()
    k = canvas["width"] / job["photo"]["width"]  # photo px → CSS px
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    big = max(range(1, len(boxes)), key=lambda i: area[i])  # the largest box but the first
    x1, y1, x2, y2 = boxes[big]
    cx, cy = canvas["x"] + (x1 + x2) / 2 * k, canvas["y"] + (y1 + y2) / 2 * k
    p.mouse.move(cx, cy)  # drag it 30 CSS px to the right
    p.mouse.down()
    p.mouse.move(cx + 15, cy, steps=3)
    p.mouse.move(cx + 30, cy, steps=3)
    p.mouse.up()
    p.focus("#canvas")
    p.keyboard.press("Escape")
    p.keyboard.press("n")  # keyboard only: select the first box and delete it, add one
    p.keyboard.press("Delete")
    p.keyboard.press("a")
    assert p.text_content("#count") == str(len(boxes))
    p.click("#save")
    p.wait_for_selector("#save-status:has-text('saved revision 1')")

    review = app_page.api("GET", f"/v1/jobs/{job_id}/review").json()
    saved = [b["box"] for b in review["boxes"]]
    dx = 30 / k
    moved = [b for b in saved if b not in boxes]
    assert any(abs(b[0] - (x1 + dx)) < 1.5 and abs(b[2] - (x2 + dx)) < 1.5 and abs(b[1] - y1) < 1.5 for b in moved), \
        (boxes[big], dx, moved)
    assert boxes[0] not in saved  # deleted
    assert review["changes"]["kept"] == len(boxes) - 2
    out = tmp_path / "labels"
    assert main(["labels", "export", "--since", review["reviewed_at"], "--tenant", tenant, str(out)]) == 0
    labels = next(out.glob(f"labels/*/{job_id}.txt")).read_text().splitlines()
    assert len(labels) == len(boxes)
    w, h = job["photo"]["width"], job["photo"]["height"]
    centres = [(float(line.split()[1]) * w, float(line.split()[2]) * h) for line in labels]
    assert any(abs(x - ((x1 + x2) / 2 + dx)) < 1.5 and abs(y - (y1 + y2) / 2) < 1.5 for x, y in centres)
