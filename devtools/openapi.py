"""``shelfwatch-dev openapi``: write the API's contract where people read it.

* ``docs/openapi.json``: the OpenAPI 3.1 document, rendered from the code (the routes'
  declared schemas) with placeholder settings; building the app connects to nothing.
* the route and error tables of ``docs/api.md``, between ``<!-- api:start -->`` and
  ``<!-- api:end -->``, generated from that document and ``api.problems.ERROR_CODES``.

Tests keep both equal to what the code renders, so neither can drift from the gateway.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from api.app import create_app
from api.meta import spec
from api.problems import ERROR_CODES, FIELD_CODES
from shared.settings import Settings

PLACEHOLDERS = {"database_url": "postgresql+psycopg2://render-only/none", "redis_url": "redis://render-only:6379/0"}
START, END = "<!-- api:start -->", "<!-- api:end -->"


def document() -> dict[str, Any]:
    settings = Settings(_env_file=None, **PLACEHOLDERS)  # type: ignore[arg-type]
    return spec(create_app(settings))


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def readme_tables(doc: dict[str, Any]) -> str:
    """The API reference's route table and error table, in Markdown."""
    lines = [START, "", "| method | path | scope | what | answers |", "| --- | --- | --- | --- | --- |"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            scope = op["security"][0]["bearer"][0] if op.get("security") else "-"
            answers = ", ".join(sorted(op["responses"]))
            lines.append(f"| {method.upper()} | `{path}` | {scope} | {op.get('summary', '')} | {answers} |")
    lines += ["", "| status | code | meaning |", "| --- | --- | --- |"]
    for code, (status, meaning) in sorted(ERROR_CODES.items(), key=lambda kv: (kv[1][0], kv[0])):
        lines.append(f"| {status} | `{code}` | {meaning} |")
    lines += [f"| 422 | `{FIELD_CODES}` | one per field of each request schema (all listed in the spec) |", "", END]
    return "\n".join(lines)


def with_tables(readme: str, doc: dict[str, Any]) -> str:
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"the API reference has no {START} … {END} block")
    return pattern.sub(lambda _: readme_tables(doc), readme)


def write(out: Path = Path("docs/openapi.json"), readme: Path = Path("docs/api.md")) -> list[Path]:
    out.write_text(render())
    readme.write_text(with_tables(readme.read_text(), document()))
    return [out, readme]
