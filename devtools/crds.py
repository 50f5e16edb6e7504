"""The custom resources in deploy/ checked against their operators' own CRD schemas, offline.

kubernetes-validate knows the core API only; KEDA's ScaledObject, the Prometheus
Operator's monitors and rules, Argo Rollouts' Rollout and AnalysisTemplate and Argo CD's
Application are checked here against the ``openAPIV3Schema`` each project publishes in its
CRD, vendored under ``deploy/crds/`` (descriptions dropped; ``deploy/crds/SOURCES.md`` says
where each came from). Strict like ``kubectl apply --validate=strict``: a field the CRD does
not declare is an error (the API server would drop it silently: a misspelt
``minReplicaCount`` would leave KEDA's default in force).

    python -m devtools.crds check FILE.yaml…              every custom resource in the files
    python -m devtools.crds vendor CRD.yaml… --source S   (re)write deploy/crds/ from upstream CRDs
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml
from jsonschema import Draft4Validator

ROOT = Path(__file__).resolve().parents[1]
CRDS = ROOT / "deploy" / "crds"


def _key(api_version: str, kind: str) -> str:
    return f"{api_version.replace('/', '_')}_{kind}"


def _strict(node: object) -> object:
    """A CRD's structural schema as plain JSON Schema (draft 4, which OpenAPI 3.0 follows).

    Kubernetes' extensions: ``x-kubernetes-int-or-string`` is an integer or a string;
    ``nullable`` admits null; an object with declared properties admits nothing else unless
    ``x-kubernetes-preserve-unknown-fields`` says so (the API server prunes the rest).
    """
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def schema_for(api_version: str, kind: str) -> dict | None:
    path = CRDS / f"{_key(api_version, kind)}.json"
    return json.loads(path.read_text())["schema"] if path.exists() else None


def documents(paths: list[Path]) -> Iterator[tuple[Path, dict]]:
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind"):
                yield path, doc


def problems(doc: dict) -> list[str] | None:
    """Every schema error of one custom resource; None if no CRD schema is vendored for its kind."""
    schema = schema_for(doc.get("apiVersion", ""), doc["kind"])
    if schema is None:
        return None
    validator = Draft4Validator(_strict(schema))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


def check(paths: list[Path]) -> int:
    failed = checked = 0
    for path, doc in documents(paths):
        found = problems(doc)
        if found is None:
            continue
        checked += 1
        name = f"{doc['kind']}/{doc.get('metadata', {}).get('name', '?')} ({path.name})"
        if found:
            failed += 1
            print(f"FAILED {name}:\n  " + "\n  ".join(found[:20]))
        else:
            print(f"ok {name}")
    print(f"custom resources checked against their CRD schemas: {checked}, failed: {failed}")
    return 1 if failed else 0


def _drop_descriptions(node: object) -> object:
    if isinstance(node, dict):
        return {k: _drop_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_drop_descriptions(v) for v in node]
    return node


def vendor(paths: list[Path], source: str) -> int:
    """Write each served version's schema of the CRDs in ``paths`` to deploy/crds/."""
    CRDS.mkdir(parents=True, exist_ok=True)
    for path, doc in documents(paths):
        if doc["kind"] != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if not version.get("served") or not schema:
                continue
            api_version = f"{spec['group']}/{version['name']}"
            out = CRDS / f"{_key(api_version, spec['names']['kind'])}.json"
            out.write_text(json.dumps({"apiVersion": api_version, "kind": spec["names"]["kind"],
                                       "source": f"{source} {path.name}",
                                       "schema": _drop_descriptions(schema)}, sort_keys=True) + "\n")
            print(f"wrote {out.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devtools.crds", description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="action", required=True)
    c = sub.add_parser("check", help="validate the custom resources in these manifests")
    c.add_argument("files", nargs="+", type=Path)
    v = sub.add_parser("vendor", help="vendor the schemas of these upstream CRD files")
    v.add_argument("files", nargs="+", type=Path)
    v.add_argument("--source", required=True, help="where they came from: repository@commit")
    args = ap.parse_args(argv)
    return check(args.files) if args.action == "check" else vendor(args.files, args.source)


if __name__ == "__main__":
    sys.exit(main())
