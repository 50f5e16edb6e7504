"""Model routes: what serves each mode now, and each version's card figures (read scope)."""

from __future__ import annotations

from pathlib import Path

from flask import Response, jsonify
from flask_openapi3 import OpenAPI, Tag

from api.contract import route
from api.schemas import ModelList
from api.services import Services
from shared.detector import served_threshold
from shared.model_store import ModelStore

MODELS = Tag(name="models", description="the model versions and what each measured")


def card_view(version: str, entry: dict, serving: list[str]) -> dict:
    """A version's public card: what it is and its figures on the synthetic validation set."""
    card = entry.get("card", {})
    val = card.get("metrics", {}).get("synthetic_val", {})
    figures = val.get(card.get("precision", "int8")) or next(iter(val.values()), None)
    return {"version": version, "serving": serving, "created_at": card.get("created_at"),
            "precision": card.get("precision"), "classes": card.get("classes", ["product"]),
            "input_size": card.get("input_size"), "conf_threshold": card.get("conf_threshold"),
            "conf_thresholds": card.get("conf_thresholds"),
            "size_bytes": card.get("size_bytes"), "latency_ms_1thread": card.get("latency_ms_1thread"),
            "metrics": {k: figures.get(k) for k in ("map50", "precision", "recall", "count_error", "photos")}
            if figures else None}


def canary_view(mode: dict) -> dict | None:
    canary = mode.get("canary")
    return {"version": Path(canary["model"]).stem, "fraction": canary["fraction"]} if canary else None


def register(app: OpenAPI, services: Services) -> None:
    store = ModelStore(services.settings)

    @route(app, "get", "/v1/models", "read", ok={200: ModelList}, tags=[MODELS],
           summary="The model versions: which serves each mode, and each one's card figures",
           description="Those serving first, then the rest newest first. The figures are the card's, "
                       "measured on the synthetic validation set when the version was built (docs/model.md).")
    def list_models() -> Response:
        registry = store.registry()
        versions = store.versions()
        modes = {mode: {"version": v, "input_size": size,
                        "conf_threshold": served_threshold(versions.get(v, {}).get("card", {}), size),
                        "canary": canary_view(registry["modes"][mode])}
                 for mode in registry.get("modes", {}) for v, size in [store.serving(mode)]}
        items = [card_view(name, entry, sorted(m for m, spec in modes.items() if spec["version"] == name))
                 for name, entry in versions.items()]
        serving = [i for i in items if i["serving"]]  # what serves first, then the rest newest first
        rest = sorted((i for i in items if not i["serving"]), key=lambda i: i["created_at"] or "", reverse=True)
        items = serving + rest
        return jsonify({"modes": modes, "items": items})
