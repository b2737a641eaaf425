"""Scoring-endpoint load test: `make bench-serve` -> outputs/bench/serve.json (+ serve.md, the README table).

Four servers, one after another, each the real `saferlhf serve` in its own process on loopback:
  pytorch-eager    the same app with backend=torch, one model call per request (max_batch_size=1): the naive baseline
  pytorch-batched  backend=torch with the same adaptive micro-batcher and all cores: the fair peer
  onnx-fp32        ONNX Runtime fp32 + adaptive micro-batching
  onnx-int8        ONNX Runtime INT8 + adaptive micro-batching (skipped, with the reason, when the export failed INT8)
For each, a closed-loop load generator (a separate process, raw HTTP/1.1 keep-alive, one item per request)
runs at 1, 16 and 64 concurrent clients for a bounded number of requests. The ONNX servers also serve gRPC
(`--grpc-port`, same process and batcher): after each REST level the same level runs over gRPC (ModelInfer,
raw BYTES inputs as tritonclient sends them, one channel per client), so the two protocols sit side by side.
Per level: throughput, p50/p95/p99
latency, the server's CPU% and CPU-ms per request; per server: peak RSS (VmHWM, model load included).
Pairs are the test split of the dataset (realistic lengths).

The limit: the same run measures this CPU's fp32 and INT8 GEMM throughput at the encoder's shapes
(benchmarks/gemm_peak.py) and, with the model's FLOPs per item (export_report.json: from the graph and the test
split's token counts), reports each backend's achieved model GFLOP/s as a share of that peak: per wall second
against all cores, and per CPU second against one core (the figure a shared machine distorts least)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
BACKENDS = {  # name -> extra `saferlhf serve` flags
    "pytorch-eager": ["--backend", "torch", "--max-batch-size", "1", "--max-items", "1"],
    "pytorch-batched": ["--backend", "torch"],
    "onnx-fp32": ["--precision", "fp32"],
    "onnx-int8": ["--precision", "int8"],
}


# ---------------------------------------------------------------- load generator (runs in its own process)
async def _client(host: str, port: int, bodies: list[bytes], jobs: asyncio.Queue, lat: list, errors: list) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                i = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            writer.write(b"POST /v1/score HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            if i >= 0:  # negative ids are warm-up
                lat.append(time.perf_counter() - t0)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors.append(head.split(b"\r\n")[0].decode())
    finally:
        writer.close()


async def _grpc_client(target: str, bodies: list[bytes], jobs: asyncio.Queue, lat: list, errors: list) -> None:
    import grpc

    async with grpc.aio.insecure_channel(target) as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                    request_serializer=None, response_deserializer=None)  # pre-serialised bytes
        while True:
            try:
                i = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            try:
                await infer(bodies[i % len(bodies)], timeout=60)
                ok = None
            except grpc.aio.AioRpcError as e:
                ok = e.code().name
            if i >= 0:
                lat.append(time.perf_counter() - t0)
                if ok is not None:
                    errors.append(ok)


def _grpc_bodies(pairs: list) -> list[bytes]:
    sys.path.insert(0, str(REPO))  # serving.proto; only the load generator process imports it
    from saferlhf.serve.binary import encode_bytes
    from serving.proto import grpc_predict_v2_pb2 as pb

    out = []
    for p, r in pairs:
        req = pb.ModelInferRequest(model_name="saferlhf-reward")
        for name in ("prompt", "response"):
            req.inputs.add(name=name, datatype="BYTES", shape=[1])
        req.raw_input_contents.extend([encode_bytes([p.encode()]), encode_bytes([r.encode()])])
        out.append(req.SerializeToString())
    return out


async def _load(url: str, pairs_file: str, concurrency: int, requests: int, protocol: str = "rest") -> dict:
    pairs = json.loads(Path(pairs_file).read_text())
    if protocol == "grpc":
        bodies = _grpc_bodies(pairs)
        client = lambda q, lat, errors: _grpc_client(url, bodies, q, lat, errors)  # noqa: E731
    else:
        host, port = url.removeprefix("http://").split(":")
        bodies = [json.dumps({"items": [{"prompt": p, "response": r}]}).encode() for p, r in pairs]
        client = lambda q, lat, errors: _client(host, int(port), bodies, q, lat, errors)  # noqa: E731
    lat: list[float] = []
    errors: list[str] = []
    for ids, measure in ((range(-concurrency, 0), False), (range(requests), True)):  # warm-up, then measured
        q: asyncio.Queue = asyncio.Queue()
        for i in ids:
            q.put_nowait(i)
        t0 = time.perf_counter()
        await asyncio.gather(*(client(q, lat, errors) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat.sort()
    pct = lambda q: round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 2)  # noqa: E731
    return {"requests": len(lat), "errors": len(errors), "seconds": round(wall, 3),
            "throughput_rps": round(len(lat) / wall, 1), "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99)}


# ---------------------------------------------------------------- orchestration
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds user+sys, peak RSS MB) of a process, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    hwm = next(int(x.split()[1]) for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM"))
    return cpu, hwm / 1024


def _start(model: str, flags: list[str], log_dir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "SAFERLHF_TRACKING": "0"}
    env.pop("SAFERLHF_API_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "saferlhf.cli", "serve", "--model", model, "--port", str(port),
                             "--log-dir", str(log_dir), *flags], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server {flags} exited: {proc.stderr.read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"server {flags} did not become ready")


def _run_level(url: str, pid: int, pairs_file: str, concurrency: int, requests: int,
               protocol: str = "rest") -> dict:
    cpu0, _ = _proc_stat(pid)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "loadgen", url, pairs_file, str(concurrency), str(requests),
                          protocol], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    cpu1, _ = _proc_stat(pid)
    res = json.loads(out.stdout)
    # the server process's CPU over the whole level (warm-up included), per measured+warm-up request
    res["server_cpu_percent"] = round(100 * (cpu1 - cpu0) / wall, 1)
    res["server_cpu_ms_per_request"] = round(1000 * (cpu1 - cpu0) / (requests + concurrency), 2)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="outputs/models/reward_model/onnx", help="ONNX bundle (from export-onnx --quantize int8)")
    ap.add_argument("--data", default="outputs/data/safety_labels.csv", help="labelled CSV; its test split is the traffic")
    ap.add_argument("--levels", default="1,16,64", help="concurrent clients per level")
    ap.add_argument("--requests", default="60,400,800", help="measured requests per level (bounded load)")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--no-grpc", action="store_true", help="REST only (skip the gRPC runs of the ONNX servers)")
    ap.add_argument("--out", default="outputs/bench/serve.json")
    args = ap.parse_args()
    import pandas as pd

    from saferlhf.io import write_json, write_text

    df = pd.read_csv(args.data)
    test = df[df["split"] == "test"]
    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    pairs_file = tmp / "pairs.json"
    pairs_file.write_text(json.dumps(list(zip(test["prompt"], test["response"]))))
    levels = [int(x) for x in args.levels.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    from saferlhf.serve.bundle import INT8_FILE, find_bundle_dir, int8_failure

    bundle = find_bundle_dir(Path(args.model))
    export = json.loads((bundle / "export_report.json").read_text()) if (bundle / "export_report.json").is_file() else {}
    backends = args.backends.split(",")
    skipped = {}
    if "onnx-int8" in backends and not (bundle / INT8_FILE).is_file():
        skipped["onnx-int8"] = int8_failure(bundle) or f"no {INT8_FILE} (export with --quantize int8)"
        backends.remove("onnx-int8")
        print(f"onnx-int8 skipped: {skipped['onnx-int8']}", flush=True)
    load0 = os.getloadavg()
    results = []
    for name in backends:
        grpc_port = _free_port() if name.startswith("onnx") and not args.no_grpc else None
        flags = BACKENDS[name] + (["--grpc-port", str(grpc_port)] if grpc_port else [])
        proc, url = _start(args.model, flags, tmp / name)
        try:
            for c, n in zip(levels, counts):
                targets = [("rest", url)] + ([("grpc", f"127.0.0.1:{grpc_port}")] if grpc_port else [])
                for protocol, target in targets:
                    r = {"backend": name, "protocol": protocol, "concurrency": c,
                         **_run_level(target, proc.pid, str(pairs_file), c, n, protocol)}
                    print(json.dumps(r), flush=True)
                    results.append(r)
            peak = _proc_stat(proc.pid)[1]
            for r in results:
                if r["backend"] == name:
                    r["peak_rss_mb"] = round(peak, 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    limit = _limit(results, export.get("int8") or {})
    summary = _summary(results, levels[-1], limit)
    report = {"machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                          "platform": platform.platform(), "load_average_before": [round(x, 2) for x in load0],
                          "load_average_after": [round(x, 2) for x in os.getloadavg()]},
              "model": args.model, "pairs": len(test), "levels": levels, "requests": counts,
              "skipped": skipped, "limit": limit, "results": results, "summary": summary}
    write_json(args.out, report)
    write_text(Path(args.out).with_suffix(".md"), _table(results))
    print(_table(results))
    print(json.dumps(summary, indent=2))


def _limit(results: list[dict], int8_report: dict) -> dict:
    """GEMM peak of this CPU and, per result, the achieved model GFLOP/s as a share of it (added to each row)."""
    from gemm_peak import measure

    from saferlhf.serve.scorer import cpu_limit

    flops = (int8_report.get("flops_per_item") or {}).get("total_gflop")
    tokens = int8_report.get("mean_tokens")
    if not flops or not tokens:
        return {"note": "export_report.json has no int8.flops_per_item (export with --quantize int8)"}
    # reports written before int8_method was recorded: the method's display name starts with its key
    method = int8_report.get("int8_method") or (str(int8_report.get("method", "")).split() or [""])[0]
    method = method if method in ("dynamic", "blockwise") else "blockwise"
    peak = measure(round(tokens), cpu_limit(), method=method)
    for r in results:
        p = peak["int8" if r["backend"] == "onnx-int8" else "fp32"]
        r["model_gflops"] = round(r["throughput_rps"] * flops, 1)  # (req/s) x (GFLOP / item)
        r["share_of_peak_all_cores"] = round(r["model_gflops"] / p["gflops_all_cores"], 3)
        per_cpu_s = flops / (r["server_cpu_ms_per_request"] / 1000)  # GFLOP per second of server CPU
        r["share_of_peak_one_core"] = round(per_cpu_s / p["gflops_one_core"], 3)
    return {"model_gflop_per_item": flops, "mean_tokens": tokens, "gemm_peak": peak}


def _ratio(at: dict, a: str, b: str, key: str, invert: bool = False) -> float | None:
    if a not in at or b not in at:
        return None
    x, y = at[a][key], at[b][key]
    return round(y / x if invert else x / y, 2)


def _summary(results: list[dict], top: int, limit: dict) -> dict:
    at = {r["backend"]: r for r in results if r["concurrency"] == top and r["protocol"] == "rest"}
    cpu = "server_cpu_ms_per_request"
    out: dict = {
        f"int8_vs_onnx_fp32_cpu_per_request_at_{top}": _ratio(at, "onnx-int8", "onnx-fp32", cpu, invert=True),
        f"int8_vs_pytorch_batched_throughput_at_{top}": _ratio(at, "onnx-int8", "pytorch-batched", "throughput_rps"),
        f"int8_vs_pytorch_batched_cpu_per_request_at_{top}": _ratio(at, "onnx-int8", "pytorch-batched", cpu,
                                                                     invert=True),
        f"int8_vs_pytorch_eager_throughput_at_{top}": _ratio(at, "onnx-int8", "pytorch-eager", "throughput_rps"),
        f"int8_vs_pytorch_eager_cpu_per_request_at_{top}": _ratio(at, "onnx-int8", "pytorch-eager", cpu,
                                                                   invert=True),
        f"onnx_fp32_vs_pytorch_batched_throughput_at_{top}": _ratio(at, "onnx-fp32", "pytorch-batched",
                                                                    "throughput_rps")}
    if "onnx-int8" in at and "share_of_peak_one_core" in at["onnx-int8"]:
        out[f"int8_share_of_int8_gemm_peak_at_{top}"] = {k: at["onnx-int8"][k] for k in
                                                         ("share_of_peak_all_cores", "share_of_peak_one_core")}
    out = {k: v for k, v in out.items() if v is not None}
    for r in results:  # gRPC beside REST on the same server, same level
        rest = next((x for x in results if x["protocol"] == "rest" and x["backend"] == r["backend"]
                     and x["concurrency"] == r["concurrency"]), None)
        if r["protocol"] == "grpc" and rest:
            key = f"{r['backend']}_grpc_vs_rest_at_{r['concurrency']}"
            out[key] = {"throughput": round(r["throughput_rps"] / rest["throughput_rps"], 2),
                        "cpu_ms_per_request": round(r["server_cpu_ms_per_request"]
                                                    / rest["server_cpu_ms_per_request"], 2)}
    onnx_rss = [r["peak_rss_mb"] for r in results if r["backend"].startswith("onnx")]
    if onnx_rss:
        out["onnx_peak_rss_mb"] = max(onnx_rss)
    out["errors"] = sum(r["errors"] for r in results)
    return out


def _table(results: list[dict]) -> str:
    head = ("| backend | protocol | clients | requests | throughput (req/s) | p50 ms | p95 ms | p99 ms | server CPU % "
            "| CPU ms/req | peak RSS MB | model GFLOP/s | % of peak (all cores / per CPU-s) | errors |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    pct = lambda r, k: f"{100 * r[k]:.0f}" if k in r else "-"  # noqa: E731
    rows = [f"| {r['backend']} | {r['protocol']} | {r['concurrency']} | {r['requests']} | {r['throughput_rps']} | "
            f"{r['p50_ms']} | "
            f"{r['p95_ms']} | {r['p99_ms']} | {r['server_cpu_percent']} | {r['server_cpu_ms_per_request']} | "
            f"{r.get('peak_rss_mb', '')} | {r.get('model_gflops', '-')} | "
            f"{pct(r, 'share_of_peak_all_cores')} / {pct(r, 'share_of_peak_one_core')} | {r['errors']} |"
            for r in results]
    return head + "\n".join(rows) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        url, pairs_file, c, n, protocol = sys.argv[2:7]
        print(json.dumps(asyncio.run(_load(url, pairs_file, int(c), int(n), protocol))))
    else:
        main()
