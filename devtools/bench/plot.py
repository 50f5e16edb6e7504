"""The benchmark's picture: one PNG of four panels, drawn from the report JSON alone."""

from __future__ import annotations

import math
from pathlib import Path


def _ok(v) -> bool:
    return isinstance(v, int | float) and not math.isnan(v)


def plot(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    e, f = report.get("engine"), report.get("farm")
    if e:
        _engine_throughput(axes[0][0], e)
        _model_only(axes[0][1], e)
    if f:
        _farm_latency(axes[1][0], f, report.get("gateway", {}))
        _farm_throughput(axes[1][1], f)
    meta = report["meta"]
    fig.suptitle(f"ShelfWatch benchmark ({meta['mode']}) — {meta['machine']['cpu']}, {meta['created_at']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _engine_throughput(ax, e: dict) -> None:
    """Images/s from JPEG bytes against batch size, one line per engine and thread count."""
    for label, by_t in e["e2e"].items():
        for t, by_b in (by_t or {}).items():
            if not by_b:
                continue
            bs = sorted(by_b, key=int)
            ax.plot([int(b) for b in bs], [by_b[b]["images_per_s"] for b in bs], marker="o",
                    linestyle="-" if t == "1" else "--", label=f"{label}, {t} thr")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("images/s (JPEG bytes → detections)")
    ra = e["ratios"]
    ax.set_title(f"Engine: INT8/Ultralytics {ra['int8_vs_ultralytics']}×, INT8/FP32 {ra['int8_vs_fp32']}×")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def _model_only(ax, e: dict) -> None:
    """Model-only ms per image at batch 1, per runtime and thread count."""
    names, values = [], []
    for label in ("fp32", "int8"):
        for t, by_b in (e["model_only_ms"].get(label) or {}).items():
            if by_b and "1" in by_b:
                names.append(f"ORT {label}, {t} thr")
                values.append(by_b["1"]["median"])
    for t, variants in (e["model_only_ms"].get("openvino") or {}).items():
        for v, m in (variants or {}).items():
            names.append(f"OpenVINO {v.replace('_model', '').replace('_', ' ')}, {t} thr")
            values.append(m["median"])
    for t, ep in (e.get("ort_openvino_ep") or {}).items():
        for k in ("fp32", "int8"):
            if isinstance(ep.get(k), dict) and _ok(ep[k].get("median")):
                names.append(f"ORT OpenVINO EP {k}, {t} thr")
                values.append(ep[k]["median"])
    ax.barh(range(len(values)), values, color="tab:blue")
    ax.set_yticks(range(len(values)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ms per image, batch 1 (lower is better)")
    ax.set_title(f"Model only, {e.get('gflops_per_image')} GFLOPs/image")
    maps = "\n".join(f"mAP50 {k}: {v:.3f}" for k, v in e["map50"].items() if k in ("fp32", "int8", "ultralytics"))
    ax.text(0.98, 0.03, maps, transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8})
    ax.grid(alpha=0.3, axis="x")


def _farm_latency(ax, f: dict, g: dict) -> None:
    """p50/p95/p99 of each load shape: idle, offered rate, saturated, and the gateway alone."""
    shapes = {"idle (1 at a time)": f.get("latency_ms"),
              f"offered {f['offered']['rate']}/s": f["offered"]["latency_ms"],
              "saturated": f.get("saturated_latency_ms"), "gateway submit\n32 clients": g.get("submit_ms")}
    shapes = {k: v for k, v in shapes.items() if v}
    width = 0.25
    for i, p in enumerate(("p50", "p95", "p99")):
        ax.bar([x + (i - 1) * width for x in range(len(shapes))], [v.get(p, 0) for v in shapes.values()],
               width, label=p)
    ax.set_xticks(range(len(shapes)), list(shapes), fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms, submit → result (log)")
    ax.axhline(300, color="red", linewidth=0.8, linestyle=":", label="300 ms target (idle p95)")
    ax.set_title("Farm latency")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")


def _farm_throughput(ax, f: dict) -> None:
    """Sustained photos/s: the raw engine on the worker's core, the farm, and the sweeps."""
    names = ["raw engine, same core", f"farm, batch {f['batch_size']} / wait {f['batch_wait_ms']} ms"]
    values = [f["engine_photos_per_s"], f["photos_per_s"]]
    for row in f.get("batch_sweep", []):
        names.append(f"farm, batch {row['batch_size']} / wait {row['batch_wait_ms']} ms")
        values.append(row["photos_per_s"])
    for k in ("2_processes_1_thread", "1_process_2_threads"):
        if _ok((f.get("scaling") or {}).get(k)):
            names.append(f"farm, {k.replace('_', ' ')}, all cores")
            values.append(f["scaling"][k])
    colors = ["tab:gray", "tab:green"] + ["tab:olive"] * (len(values) - 2)
    ax.barh(range(len(values)), [v if _ok(v) else 0 for v in values], color=colors)
    ax.set_yticks(range(len(values)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("photos/s")
    ax.set_title(f"Farm throughput: efficiency {f['efficiency']} of the raw engine")
    ax.grid(alpha=0.3, axis="x")
