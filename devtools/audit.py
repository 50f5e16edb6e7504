"""`make audit`: pip-audit over every pinned version (constraints.txt), where it can reach its data.

Known vulnerabilities fail the run (exit 1), each listed with its fix. Where the advisory
data cannot be reached (a closed network, or a package index mirror without PyPI's
vulnerability data: every package comes back "not found"), the run says so loudly and
exits 0: the audit is skipped, not passed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--pip-audit", default="pip-audit", help="the pip-audit command (make audit: build/audit-venv's)")
    args = ap.parse_args()
    cmd = [args.pip_audit, "-r", str(ROOT / "constraints.txt"), "--no-deps", "--disable-pip",
           "--progress-spinner", "off", "--format", "json"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)  # noqa: S603 - our own fixed command
    try:
        deps = json.loads(run.stdout)["dependencies"]
    except (json.JSONDecodeError, KeyError):
        print(f"pip-audit: SKIPPED, its advisory data is not reachable here ({run.stderr.strip().splitlines()[-1:]})")
        return 0
    unknown = [d for d in deps if "skip_reason" in d]
    if len(unknown) == len(deps):
        print(f"pip-audit: SKIPPED, the package index here has no vulnerability data ({len(deps)} of {len(deps)} "
              "pinned packages 'not found'); run `make audit` where pypi.org or osv.dev is reachable")
        return 0
    found = [(d["name"], d["version"], v) for d in deps for v in d.get("vulns", [])]
    for name, version, vuln in found:
        print(f"pip-audit: {name} {version}: {vuln['id']} (fixed in {', '.join(vuln.get('fix_versions', [])) or '-'})")
    print(f"pip-audit: {len(deps) - len(unknown)} packages audited, {len(unknown)} unknown to the service, "
          f"{len(found)} known vulnerabilities")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
