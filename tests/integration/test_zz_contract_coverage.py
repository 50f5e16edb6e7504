"""Runs last: every response the spec declares was received, and checked, by some test.

A declared status no test produces is either dead contract or an untested path; both are
defects. Skipped when only part of the integration tests was selected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract import CHECKED


def test_every_declared_response_was_exercised(request, spec):
    here = Path(__file__).parent
    modules = {p.name for p in here.glob("test_*.py")}
    selected = {Path(str(item.fspath)).name for item in request.session.items}
    if not modules <= selected or request.config.getoption("-k") or request.config.getoption("--lf", False):
        pytest.skip("only part of the integration tests ran")
    declared = {(method, path, int(status)) for path, item in spec["paths"].items()
                for method, op in item.items() for status in op["responses"]}
    missing = sorted(declared - set(CHECKED))
    assert not missing, f"declared but never received by a test: {missing}"
