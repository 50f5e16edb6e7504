"""A real Prometheus for the local stack (Debian's ``prometheus`` package), when installed.

``start`` writes a configuration that scrapes the gateway and each worker pool of the demo
every 2 s with the project's alert rules (``deploy/prometheus/rules.yml``) loaded, and runs
Prometheus on a free loopback port with its data in the state folder. ``graph`` renders a
PNG of the farm under load from Prometheus's HTTP API (matplotlib, the bench extra).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from pathlib import Path

import requests

from devtools.stack import free_port

RULES = Path("deploy/prometheus/rules.yml")


def available() -> bool:
    return shutil.which("prometheus") is not None


def start(state: Path, targets: dict[str, list[str]], rules: Path = RULES) -> tuple[subprocess.Popen, str]:
    """Prometheus scraping ``targets`` (job -> host:port), with the alert rules if present."""
    state.mkdir(parents=True, exist_ok=True)
    lines = ["global:", "  scrape_interval: 2s", "  evaluation_interval: 2s"]
    if rules.exists():
        lines += ["rule_files:", f"  - {rules.resolve()}"]
    lines.append("scrape_configs:")
    for job, hosts in targets.items():
        lines += [f"  - job_name: {job}", "    static_configs:", f"      - targets: [{', '.join(hosts)}]"]
    config = state / "prometheus.yml"
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    binary = shutil.which("prometheus") or "prometheus"
    log = state / "prometheus.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={state / 'tsdb'}",  # noqa: S603 - our own arguments
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=out, stderr=out, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"Prometheus did not start; see {log}")


_E2E = 'sum by (le) (rate(shelfwatch_job_seconds_bucket{queue="audits"}[15s]))'
# (title, (legend, PromQL)...); a legend of "" takes the series' labels
PANELS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("requests/s by route",
     (("", 'sum by (route) (rate(shelfwatch_http_requests_total{route!~"/metrics|/readyz"}[15s])) > 0'),)),
    ("audit end-to-end (s), queued to result written",
     (("p50", f"histogram_quantile(0.5, {_E2E})"), ("p95", f"histogram_quantile(0.95, {_E2E})"))),
    ("jobs queued / running (Postgres)", (("", 'shelfwatch_queue_jobs{queue="audits"}'),)),
    ("batch size (mean)",
     (("mean", 'sum(rate(shelfwatch_batch_size_sum[15s])) / sum(rate(shelfwatch_batch_size_count[15s]))'),)),
)


def graph(url: str, out: Path, minutes: float = 5.0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = time.time()
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(9, 2.4 * len(PANELS)), sharex=True)
    for ax, (title, queries) in zip(axes, PANELS, strict=True):
        for legend, query in queries:
            params: dict[str, str | float] = {"query": query, "start": end - 60 * minutes, "end": end, "step": "2s"}
            r = requests.get(f"{url}/api/v1/query_range", params=params, timeout=10)
            for series in r.json()["data"]["result"]:
                xs = [float(t) - end for t, _ in series["values"]]
                ys = [float(v) for _, v in series["values"]]
                label = ", ".join(f"{k}={v}" for k, v in series["metric"].items() if k not in ("__name__", "job",
                                                                                             "instance"))
                ax.plot(xs, ys, label=legend or label)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6, loc="upper left")
    axes[-1].set_xlabel("seconds before the picture (Prometheus of `make demo`, from its HTTP API)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devtools.prometheus", description="render the farm's graphs")
    ap.add_argument("--url", required=True, help="the demo's Prometheus (printed by make demo)")
    ap.add_argument("--out", type=Path, default=Path("docs/metrics.png"))
    ap.add_argument("--minutes", type=float, default=5.0)
    args = ap.parse_args(argv)
    print(f"wrote {graph(args.url, args.out, args.minutes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
