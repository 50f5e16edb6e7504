"""Schemathesis against the served OpenAPI document: generated requests to every operation.

Valid and invalid values for every parameter and body field the spec declares (Hypothesis
drives the generation, derandomized so a run is repeatable). Whatever arrives, the
gateway answers without a 5xx, with a status, content type, headers and body the spec
declares for that operation. Schemathesis' pytest plugin is not used (it does not run on
this pytest); each operation is one test that draws its cases itself.

One check is left out: "a schema-valid request is accepted". The domain refuses values
no schema can describe (a cursor it did not issue, a model version not in the registry,
a webhook URL that is not a public http(s) address), with a declared 422.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance

from tests.conftest import SAMPLES, auth, post_audit
from tests.paths import ROOT

SPEC = json.loads((ROOT / "docs" / "openapi.json").read_text())
OPERATIONS = [f"{method.upper()} {path}" for path, item in SPEC["paths"].items() for method in item]
EXAMPLES = 25  # per operation: about 1,000 requests in all, about 20 s


@pytest.fixture(scope="module")
def served_schema(app):
    return schemathesis.openapi.from_wsgi("/v1/openapi.json", app)


@pytest.mark.parametrize("label", OPERATIONS)
def test_no_generated_request_gets_a_5xx_or_an_undeclared_answer(served_schema, label, api_key):
    method, path = label.split(" ", 1)
    operation = served_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case):
        case.call_and_validate(headers=auth(api_key), excluded_checks=[positive_data_acceptance])

    check()


@pytest.mark.parametrize("query", ["since=3095-01-28T06:35:10%2B20:08", "since=0337-03-05T22:48:16-23:14",
                                   "since=0001-01-01T00:00:00%2B01:00",
                                   "since=2026-01-01T00:00:00"])
def test_times_out_of_range_or_without_offset_are_a_422_not_a_500(client, api_key, query):
    """Found by the run above: Postgres takes offsets only to ±15:59, and far years overflow."""
    r = client.get(f"/v1/events?{query}", headers=auth(api_key))
    assert r.status_code == 422
    assert r.get_json()["code"] == "invalid_since"


OFFSETS = [timezone(timedelta(minutes=m)) for m in (-1439, -720, 0, 345, 1439)]  # ±23:59 included


@given(at=st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 11, 1),
                       timezones=st.sampled_from(OFFSETS)))
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_captured_at_with_any_offset_is_stored_and_read_back_as_the_same_instant(client, api_key, at):
    r = post_audit(client, api_key, [SAMPLES[0].read_bytes()], captured_at=at.isoformat())
    assert r.status_code == 202, r.get_json()
    audit = client.get(f"/v1/audits/{r.get_json()['audit_id']}", headers=auth(api_key)).get_json()
    assert datetime.fromisoformat(audit["captured_at"]) == at
