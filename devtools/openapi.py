"""``shelfwatch-dev openapi``: write the gateway's OpenAPI document to docs/openapi.json.

The document is rendered from the code (the routes' declared schemas), with placeholder
settings: building the app connects to nothing. A test keeps the committed file equal to
what the gateway serves, so the file is the contract a client can read without a server.
"""

from __future__ import annotations

import json
from pathlib import Path

from api.app import create_app
from api.meta import spec
from shared.settings import Settings

PLACEHOLDERS = {"database_url": "postgresql+psycopg2://render-only/none", "redis_url": "redis://render-only:6379/0"}


def render() -> str:
    settings = Settings(_env_file=None, **PLACEHOLDERS)  # type: ignore[call-arg]
    return json.dumps(spec(create_app(settings)), indent=2, sort_keys=True) + "\n"


def write(path: Path = Path("docs/openapi.json")) -> Path:
    path.write_text(render())
    return path
