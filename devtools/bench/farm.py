"""Farm benchmark: HTTP submit → S3 → Redis → batched worker → Postgres, timed by a client.

A private stack (``devtools.stack.bring_up``: its own Redis and S3-API server on free
ports, a throw-away database on the machine's Postgres or an embedded one), the gateway
and a worker as real subprocesses (``devtools.procs``), and the load generator of
``loadtest.farm``. As FIELD-NOTES suggests, the worker gets a core of its own
(``taskset -c <last core>``) and everything else (gateway, moto, Redis, the load
generator) shares the other: the farm's photos/s is then compared with the raw engine on
that same single core, which isolates the farm's own overhead. moto's CPU is counted
separately, since real S3 costs the farm only the client side.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devtools import procs
from devtools import stack as devstack
from loadtest import farm as lt


@dataclass
class FarmConfig:
    model: Path
    workdir: Path
    photos: list[Path]
    worker_cores: list[int]
    other_cores: list[int]
    idle_n: int = 20
    saturate_n: int = 64
    offered_n: int = 40
    offered_fraction: float = 0.7  # of the measured saturated rate
    submitters: int = 4
    gateway_clients: int = 32
    gateway_per_client: int = 4
    batch_size: int = 8
    batch_wait_ms: int = 25  # the product default (shared/settings.py)
    sweep: list[tuple[int, int]] = field(default_factory=list)  # (BATCH_SIZE, BATCH_WAIT_MS)
    scaling: bool = False
    pacing_rounds: int = 0  # saturated runs in turn with BATCH_PACING on and off, each this many times
    profile: bool = False


# --- CPU accounting from /proc ----------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _all_stats() -> dict[int, tuple[int, float, str]]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (st := _stat(int(d.name))):
            with contextlib.suppress(OSError):
                out[int(d.name)] = (st[0], st[1], (d / "comm").read_text().strip())
    return out


def tree_cpu(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each named process and all its descendants, plus the machine's postgres."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    other_roots = set(roots.values())
    for name, root in roots.items():
        todo, total = [root], 0.0
        while todo:
            pid = todo.pop()
            total += stats.get(pid, (0, 0.0, ""))[1]
            # the load generator is the parent of every service here: count each tree once
            todo.extend(c for c in children.get(pid, []) if c not in other_roots)
        out[name] = total
    out["postgres"] = sum(cpu for _, cpu, comm in stats.values() if comm.startswith("postgres"))
    return out


# --- the farm's processes -----------------------------------------------------------------

class Farm:
    """Every process the farm benchmark starts; ``close`` stops them all, whatever happened."""

    def __init__(self, cfg: FarmConfig, log: Callable[[str], None]):
        self.cfg, self.log = cfg, log
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        self.state = Path(tempfile.mkdtemp(prefix="stack-", dir=cfg.workdir))
        self.stack: devstack.Stack | None = None
        self.api: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.env: dict[str, str] = {}

    def open(self) -> lt.FarmClient:
        t0 = time.perf_counter()
        self.stack = devstack.bring_up(self.state, private=True, bucket="shelfwatch-bench")
        key = self.stack.create_key("bench")
        self.env = {**os.environ, **self.stack.env(), **devstack.UNLIMITED, "MODEL_PATH": str(self.cfg.model),
                    "PYTHONUNBUFFERED": "1"}
        port = devstack.free_port()
        api = f"http://127.0.0.1:{port}"
        self.api = procs.spawn(["api", "--port", str(port)], self.env, self.state / "api.log")
        procs.wait_ready(api, [self.api])
        self.log(f"farm: stack and gateway up in {time.perf_counter() - t0:.1f} s ({api})")
        return lt.FarmClient(api, key, store="bench")

    def start_worker(self, client: lt.FarmClient, concurrency: int, batch_size: int, wait_ms: int,
                     ort_threads: int, cores: list[int], **settings: str) -> None:
        """Start a worker and wait until it finished one photo (its model is loaded then);
        ``settings``: more of its environment (``BATCH_PACING="false"``)."""
        self.stop_worker()
        env = {**self.env, "BATCH_SIZE": str(batch_size), "BATCH_WAIT_MS": str(wait_ms),
               "ORT_THREADS": str(ort_threads), "WORKER_CONCURRENCY": str(concurrency), **settings}
        self.worker = procs.spawn(["worker", "--concurrency", str(concurrency), "--loglevel", "WARNING"],
                                  env, self.state / "worker.log", cores)
        photo = self.cfg.photos[0]
        lt.one_at_a_time(client, [(photo.name, photo.read_bytes())], 1, poll_s=0.1, timeout=120)

    def stop_worker(self) -> None:
        if self.worker is not None:
            procs.stop(self.worker)
            self.worker = None

    def pids(self) -> dict[str, int]:
        """Roots of the process trees whose CPU is accounted."""
        pids = {"load_generator": os.getpid()}
        if self.worker:
            pids["worker"] = self.worker.pid
        if self.api:
            pids["gateway"] = self.api.pid
        for f in (self.state / "pids").glob("*"):
            name = "s3_moto" if f.name.startswith("s3-") else f.name.split("-")[0]
            pids[name] = int(f.read_text())
        return pids

    def close(self) -> None:
        if self.worker is not None:
            procs.stop(self.worker)
        if self.api is not None:
            procs.stop_gateway(self.api)
        try:
            if self.stack is not None:
                self.stack.close()  # drops the database, stops Redis and moto
            else:
                devstack.down(self.state)  # bring_up failed half-way: stop what it had started
        finally:
            shutil.rmtree(self.state, ignore_errors=True)


# --- the measurements ---------------------------------------------------------------------

def _photos(cfg: FarmConfig) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in cfg.photos]


def saturate(farm: Farm, client: lt.FarmClient, cfg: FarmConfig, n: int) -> dict:
    """``n`` photos as fast as the submitters go; photos/s, latency and CPU per photo per process."""
    before, t0 = tree_cpu(farm.pids()), time.perf_counter()
    subs = lt.submit_closed_loop(client, _photos(cfg), n, cfg.submitters)
    outcomes = lt.wait_all(client, subs, timeout=max(120.0, n * 2.0))
    wall = time.perf_counter() - t0
    after = tree_cpu(farm.pids())
    summary = lt.summarize(subs, outcomes)
    done = max(summary["done"], 1)
    cpu = {k: round((after[k] - before.get(k, 0.0)) * 1e3 / done, 1) for k in after}
    summary["cpu_ms_per_photo"] = cpu
    summary["wall_s"] = round(wall, 2)
    return summary


def engine_reference(cfg: FarmConfig, n: int, log: Callable[[str], None]) -> dict:
    """The raw engine at its best on the worker's core: INT8, 1 thread, same photos.

    Model batch 1 and BATCH_SIZE are both timed and the faster is kept: the worker runs
    the model one photo at a time (``detect_many``'s default), and batching does not
    speed the model up on this CPU, so taking only BATCH_SIZE would flatter the farm.
    """
    from devtools.bench import engine

    photos = [str(cfg.photos[i % len(cfg.photos)]) for i in range(n)]
    batches = sorted({1, cfg.batch_size})
    spec = {"kind": "shelfwatch", "model": str(cfg.model), "threads": 1, "cores": cfg.worker_cores,
            "photos": photos, "batches": batches, "model_batches": [], "model_images": 0}
    res = engine.run_child(spec, "farm-engine-reference", cfg.workdir, log)
    if "error" in res:
        raise RuntimeError(f"the engine reference run failed: {res['error']}")
    best = max(batches, key=lambda b: res["e2e"][str(b)]["images_per_s"])
    return {"batch": best, **res["e2e"][str(best)]}


# Where a sample's time goes: the first marker found in its stack (innermost first) names it.
WORKER_MARKERS = [("shelf analytics", "analyse_photo (shared/batches.py"),
                  ("model (onnxruntime)", "predict (shared/detector.py"),
                  ("decode (libjpeg)", "decode (shared/imaging.py"),
                  ("letterbox, blob", "preprocess (shared/detector.py"),
                  ("NMS, boxes", "postprocess (shared/detector.py"),
                  ("S3 fetch", "(shared/storage.py"),
                  ("Postgres pool pre-ping", "do_ping"),
                  ("Postgres claim, write", "(sqlalchemy/"),
                  ("Celery, kombu, Redis, other", "")]
GATEWAY_MARKERS = [("S3 put", "(shared/storage.py"),
                   ("enqueue (Celery, Redis)", "enqueue (shared/celery_app.py"),
                   ("Postgres pool pre-ping", "do_ping"),
                   ("Postgres queries, commit, rollback", "(sqlalchemy/"),
                   ("multipart parsing", "(werkzeug/formparser.py"),
                   ("Flask, gunicorn, other", "")]


def profile_during(pid: int, name: str, markers: list[tuple[str, str]], cfg: FarmConfig,
                   load: Callable[[], object], log: Callable[[str], None]) -> dict:
    """py-spy over a process tree while ``load`` runs: the share of CPU samples per stage."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        load()
        return {"error": "py-spy is not installed (pip install py-spy)"}
    out = cfg.workdir / f"{name}-profile.txt"
    out.unlink(missing_ok=True)
    cmd = [spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "100",
           "--nonblocking", "--output", str(out), "--duration", "600"]
    prof = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,  # noqa: S603 - fixed argument list
                            start_new_session=True)
    time.sleep(1.0)
    try:
        load()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(prof.pid, signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            prof.wait(timeout=30)
        except subprocess.TimeoutExpired:
            procs.stop(prof)
    if not out.exists():
        return {"error": (prof.stderr.read().decode() if prof.stderr else "")[-300:]}
    log(f"  {name} profile: {out}")
    return {"file": str(out), **stage_shares(out, markers)}


def stage_shares(collapsed: Path, markers: list[tuple[str, str]], top: int = 8) -> dict:
    """Shares of CPU samples per stage and per innermost frame, from py-spy's collapsed stacks.

    py-spy leaves idle threads out by default, so these are shares of busy time (a thread
    blocked on a socket can still be sampled as busy: round trips show up too).
    """
    stages: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, num = line.rpartition(" ")
        if not num.isdigit():
            continue
        n = int(num)
        total += n
        label = next(lbl for lbl, marker in markers if marker in stack)
        stages[label] = stages.get(label, 0) + n
        leaf = stack.split(";")[-1]
        leaves[leaf] = leaves.get(leaf, 0) + n
    share = {k: round(v / max(total, 1), 3) for k, v in sorted(stages.items(), key=lambda kv: -kv[1])}
    top_self = [{"frame": f, "share": round(c / max(total, 1), 3)}
                for f, c in sorted(leaves.items(), key=lambda kv: -kv[1])[:top]]
    return {"samples": total, "stage_share": share, "top_self": top_self}


def run_farm(cfg: FarmConfig, log: Callable[[str], None] = print) -> tuple[dict, dict]:
    """The farm and gateway sections of the report."""
    old_affinity = os.sched_getaffinity(0)
    if cfg.other_cores:
        os.sched_setaffinity(0, set(cfg.other_cores))  # services started from here inherit it
    farm = Farm(cfg, log)
    try:
        client = farm.open()
        return measure(farm, client, cfg, log)
    finally:
        farm.close()
        os.sched_setaffinity(0, old_affinity)


def measure(farm: Farm, client: lt.FarmClient, cfg: FarmConfig, log: Callable[[str], None]) -> tuple[dict, dict]:
    photos = _photos(cfg)
    out: dict = {"cores": {"worker": cfg.worker_cores, "everything_else": cfg.other_cores},
                 "batch_size": cfg.batch_size, "batch_wait_ms": cfg.batch_wait_ms, "photos": len(photos)}
    farm.start_worker(client, 1, cfg.batch_size, cfg.batch_wait_ms, 1, cfg.worker_cores)
    idle = lt.summarize([], lt.one_at_a_time(client, photos, cfg.idle_n))
    out["latency_ms"] = _pct(idle["observed_ms"])
    out["latency_ms_server"] = _pct(idle["e2e_ms"])
    out["idle_worker_stage_ms"] = idle["worker_stage_ms_median"]
    out["idle_phase_ms"] = idle["phase_ms_median"]
    log(f"farm: idle latency p50 {out['latency_ms']['p50']} ms, p95 {out['latency_ms']['p95']} ms")

    # the engine is timed right before and right after the farm on the same core, and the
    # mean taken: other load on a shared machine drifts over a run of this length
    ref_before = engine_reference(cfg, cfg.saturate_n, log)
    sat = saturate(farm, client, cfg, cfg.saturate_n)
    ref_after = engine_reference(cfg, cfg.saturate_n, log)
    out["photos_per_s"] = sat["photos_per_s"]
    out["saturated_latency_ms"] = _pct(sat["e2e_ms"])
    out["saturated"] = sat
    out["cpu_ms_per_photo"] = sat["cpu_ms_per_photo"]
    cpu_total = sum(v for k, v in sat["cpu_ms_per_photo"].items() if k != "load_generator")
    out["s3_moto_share_of_farm_cpu"] = round(sat["cpu_ms_per_photo"].get("s3_moto", 0.0) / max(cpu_total, 1e-9), 3)
    log(f"farm: saturated {sat['photos_per_s']} photos/s, mean batch {sat['batch_size_mean']}")

    engine_rate = round((ref_before["images_per_s"] + ref_after["images_per_s"]) / 2, 3)
    out["engine_photos_per_s"] = engine_rate
    out["efficiency"] = round(sat["photos_per_s"] / engine_rate, 3)
    out["engine_reference"] = {"threads": 1, "cores": cfg.worker_cores, "before": ref_before, "after": ref_after}
    log(f"farm: engine on the same core {ref_before['images_per_s']} (before) / {ref_after['images_per_s']} "
        f"(after) photos/s → efficiency {out['efficiency']}")

    rate = round(cfg.offered_fraction * sat["photos_per_s"], 2)
    subs = lt.submit_open_loop(client, photos, cfg.offered_n, rate)
    offered = lt.summarize(subs, lt.wait_all(client, subs, timeout=max(120.0, cfg.offered_n * 2.0)))
    out["offered"] = {"rate": rate, "photos": cfg.offered_n, "latency_ms": _pct(offered["e2e_ms"]),
                      "batch_size_mean": offered["batch_size_mean"]}
    log(f"farm: offered {rate}/s → p95 {out['offered']['latency_ms'].get('p95')} ms")

    if cfg.profile and farm.worker:
        out["worker_profile"] = profile_during(farm.worker.pid, "worker", WORKER_MARKERS, cfg,
                                               lambda: saturate(farm, client, cfg, cfg.saturate_n), log)
    if cfg.pacing_rounds:
        out["pacing"] = pacing_ab(farm, client, cfg, log)
    if cfg.sweep:
        out["batch_sweep"] = batch_sweep(farm, client, cfg, log)
    if cfg.scaling:
        out["scaling"] = scaling(farm, client, cfg, sat["photos_per_s"], log)
    farm.stop_worker()  # the gateway alone: its own latency, no worker competing

    gateway = gateway_round(farm, client, photos[0], cfg, direct=False)
    gateway["photo_bytes"], gateway["cores"] = len(photos[0][1]), cfg.other_cores
    if cfg.profile and farm.api:  # a second, profiled round: py-spy's sampling must not skew the first
        gateway["profile"] = profile_during(farm.api.pid, "gateway", GATEWAY_MARKERS, cfg, lambda: lt.gateway_clients(
            client, photos[0], cfg.gateway_clients, cfg.gateway_per_client), log)
    log(f"gateway: {cfg.gateway_clients} clients, submit p50 {gateway['submit_ms']['p50']} ms, "
        f"p99 {gateway['submit_ms']['p99']} ms, gateway CPU {gateway['cpu_ms_per_photo'].get('gateway')} ms/photo")
    gateway["direct"] = gateway_round(farm, client, photos[0], cfg, direct=True)
    d = gateway["direct"]
    log(f"gateway, direct uploads: p50 {d['submit_ms']['p50']} ms, p99 {d['submit_ms']['p99']} ms for all three "
        f"requests, gateway CPU {d['cpu_ms_per_photo'].get('gateway')} ms/photo")
    return out, gateway


def gateway_round(farm: Farm, client: lt.FarmClient, photo: tuple[str, bytes], cfg: FarmConfig,
                  direct: bool) -> dict:
    """The gateway under ``cfg.gateway_clients`` concurrent clients: latency, rate, CPU ms per photo per process.

    No worker runs: the jobs stay queued. ``direct``: each photo is a direct upload (begin,
    a presigned PUT to the S3-API server, confirm), timed whole.
    """
    before = tree_cpu(farm.pids())
    subs, wall = lt.gateway_clients(client, photo, cfg.gateway_clients, cfg.gateway_per_client, direct=direct)
    after = tree_cpu(farm.pids())
    ok = [s.submit_ms for s in subs if s.audit_id]
    done = max(len(ok), 1)
    return {"clients": cfg.gateway_clients, "requests": len(subs), "errors": len(subs) - len(ok),
            "requests_per_s": round(len(subs) / wall, 1), "submit_ms": _pct(lt.percentiles(ok)),
            "cpu_ms_per_photo": {k: round((after[k] - before.get(k, 0.0)) * 1e3 / done, 1) for k in after}}


def _pct(p: dict) -> dict:
    return {k: p[k] for k in ("p50", "p95", "p99") if k in p} | {"n": p.get("n", 0)}


def batch_sweep(farm: Farm, client: lt.FarmClient, cfg: FarmConfig, log: Callable[[str], None]) -> list[dict]:
    """Saturated photos/s and latency, and a short idle latency, per (BATCH_SIZE, BATCH_WAIT_MS).

    A lone photo waits the whole BATCH_WAIT_MS (celery-batches starts its flush timer at
    the first message), so the idle figure shows what the wait costs interactive users.
    """
    rows = []
    photos = _photos(cfg)
    for size, wait in cfg.sweep:
        farm.start_worker(client, 1, size, wait, 1, cfg.worker_cores)
        idle = lt.summarize([], lt.one_at_a_time(client, photos, 5))
        s = saturate(farm, client, cfg, cfg.saturate_n)
        rows.append({"batch_size": size, "batch_wait_ms": wait, "photos_per_s": s["photos_per_s"],
                     "latency_ms": _pct(s["e2e_ms"]), "batch_size_mean": s["batch_size_mean"],
                     "idle_latency_ms_p50": idle["observed_ms"]["p50"]})
        log(f"  sweep BATCH_SIZE={size} BATCH_WAIT_MS={wait}: {s['photos_per_s']} photos/s, "
            f"mean batch {s['batch_size_mean']}, idle p50 {idle['observed_ms']['p50']} ms")
    return rows


def pacing_ab(farm: Farm, client: lt.FarmClient, cfg: FarmConfig, log: Callable[[str], None]) -> dict:
    """Saturated runs with ``BATCH_PACING`` on and off, in turn on the worker's core: photos/s,
    mean batch, the worker's and Postgres' CPU per photo; the ratio of the medians (on ÷ off)."""
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    for _ in range(cfg.pacing_rounds):
        for mode in ("on", "off"):
            farm.start_worker(client, 1, cfg.batch_size, cfg.batch_wait_ms, 1, cfg.worker_cores,
                              BATCH_PACING="true" if mode == "on" else "false")
            s = saturate(farm, client, cfg, cfg.saturate_n)
            runs[mode].append({"photos_per_s": s["photos_per_s"], "batch_size_mean": s["batch_size_mean"],
                               "worker_cpu_ms_per_photo": s["cpu_ms_per_photo"].get("worker"),
                               "postgres_cpu_ms_per_photo": s["cpu_ms_per_photo"].get("postgres"),
                               "latency_ms": _pct(s["e2e_ms"])})
            log(f"  pacing {mode}: {s['photos_per_s']} photos/s, mean batch {s['batch_size_mean']}, "
                f"worker CPU {s['cpu_ms_per_photo'].get('worker')} ms/photo")
    out: dict = {"runs": runs}
    for key in ("photos_per_s", "batch_size_mean", "worker_cpu_ms_per_photo", "postgres_cpu_ms_per_photo"):
        out[key] = {mode: statistics.median(r[key] for r in rs) for mode, rs in runs.items()}
    off = out["photos_per_s"]["off"]
    out["on_vs_off"] = round(out["photos_per_s"]["on"] / off, 2) if off else None
    return out


def scaling(farm: Farm, client: lt.FarmClient, cfg: FarmConfig, one_core_rate: float,
            log: Callable[[str], None]) -> dict:
    """One vs two worker processes (and one process of two threads) on all cores."""
    cores = sorted(set(cfg.worker_cores) | set(cfg.other_cores))
    out: dict = {"1_process_1_thread_own_core": one_core_rate, "cores": cores}
    for name, conc, threads in (("2_processes_1_thread", 2, 1), ("1_process_2_threads", 1, 2)):
        farm.start_worker(client, conc, cfg.batch_size, cfg.batch_wait_ms, threads, cores)
        s = saturate(farm, client, cfg, cfg.saturate_n)
        out[name] = s["photos_per_s"]
        log(f"  scaling {name} on cores {cores}: {s['photos_per_s']} photos/s")
    out["two_processes_vs_one"] = round(out["2_processes_1_thread"] / one_core_rate, 2) if one_core_rate else None
    return out
