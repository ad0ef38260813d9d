"""flaregate benchmarks: ratios against baselines measured in the same run, never absolute limits.

1. Non-streaming chat through flaregate vs a floor Worker that returns the fake binding's result
   untouched (scripts/floor_worker.js), both in workerd with the same fake AI: requests/s, p50, p99.
2. Time to first streamed token through flaregate vs the floor, with a fake whose first token
   takes 50 ms.
3. Rendered bundle size (raw and gzip).
4. CPU of the stream transform per 1,000 tokens vs an identity transform (scripts/bench_stream_cpu.mjs).
5. A key with limits (rpm and tokens_per_day, so every request asks its KeyLimiter Durable Object
   and reports tokens) vs a key without: the added p50 latency and the request-rate ratio.

    bash scripts/bench            # after `bash scripts/test` has set up .venv and node_modules
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flaregate.config import WorkerConfig  # noqa: E402
from flaregate.render import write_bundle  # noqa: E402
from tests.worker_harness import start_worker  # noqa: E402

CONCURRENCY = 8
REQUESTS = 400
BLOCKS = 4


def load(url: str, headers: dict, body: dict, count: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = count // CONCURRENCY

    def run():
        with httpx.Client(headers=headers, timeout=30) as c:
            for _ in range(per_thread):
                t = time.perf_counter()
                r = c.post(url, json=body)
                r.raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=run) for _ in range(CONCURRENCY)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - start), latencies


def first_token_ms(url: str, headers: dict, body: dict, rounds: int = 30) -> float:
    times = []
    with httpx.Client(headers=headers, timeout=30) as c:
        for _ in range(rounds):
            t = time.perf_counter()
            with c.stream("POST", url, json=body) as r:
                for line in r.iter_lines():
                    if '"response":"t0 ' in line or '"content":"t0 ' in line:
                        times.append((time.perf_counter() - t) * 1000)
                        break
    return statistics.median(times)


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="flaregate-bench-"))
    write_bundle(WorkerConfig(), work / "dist")
    script = work / "dist" / "worker.js"
    proxy = start_worker(script, work)
    floor = start_worker(REPO / "scripts" / "floor_worker.js", work)
    try:
        key = proxy.add_key(name="bench")
        auth = {"authorization": f"Bearer {key}"}
        limited = "sk-fg-" + secrets.token_urlsafe(32)  # limits high enough never to refuse
        record = {
            "id": "benchlimited",
            "name": "bench-limited",
            "created_at": "2026-01-01T00:00:00Z",
        }
        record.update(expires_at=None, rpm=10**9, tokens_per_day=10**15)
        proxy.kv_put(f"key:{hashlib.sha256(limited.encode()).hexdigest()}", json.dumps(record))
        limited_auth = {"authorization": f"Bearer {limited}"}
        chat = {
            "model": "@cf/meta/llama-3.1-8b-instruct-fp8",
            "messages": [{"role": "user", "content": "fixture:llama-3.1-8b-native-text"}],
        }
        floor_body = {**chat, "model": "@cf/meta/llama-3.1-8b-instruct-fp8"}
        load(f"{proxy.base_url}/chat/completions", auth, chat, 80)  # warm up both
        load(floor.url, {}, floor_body, 80)
        load(f"{proxy.base_url}/chat/completions", limited_auth, chat, 80)
        results = {"flaregate": ([], []), "floor": ([], []), "limited": ([], [])}
        for _ in range(BLOCKS):  # interleaved blocks: a noisy minute hits both sides
            rps, lat = load(f"{proxy.base_url}/chat/completions", auth, chat, REQUESTS // BLOCKS)
            results["flaregate"][0].append(rps)
            results["flaregate"][1].extend(lat)
            rps, lat = load(floor.url, {}, floor_body, REQUESTS // BLOCKS)
            results["floor"][0].append(rps)
            results["floor"][1].extend(lat)
            url = f"{proxy.base_url}/chat/completions"
            rps, lat = load(url, limited_auth, chat, REQUESTS // BLOCKS)
            results["limited"][0].append(rps)
            results["limited"][1].extend(lat)
        slow = {
            "model": "@cf/meta/llama-3.1-8b-instruct-fp8",
            "messages": [{"role": "user", "content": "slow:3:50"}],
            "stream": True,
        }
        ttft_proxy = first_token_ms(f"{proxy.base_url}/chat/completions", auth, slow)
        ttft_floor = first_token_ms(floor.url, {}, slow)
    finally:
        proxy.stop()
        floor.stop()

    fg_rps, fl_rps = (
        statistics.median(results["flaregate"][0]),
        statistics.median(results["floor"][0]),
    )
    fg_lat, fl_lat = results["flaregate"][1], results["floor"][1]
    raw = script.read_bytes()
    cpu = json.loads(
        subprocess.run(
            ["node", str(REPO / "scripts" / "bench_stream_cpu.mjs"), str(script), "1000", "300"],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    report = {
        "non_streaming_chat": {
            "concurrency": CONCURRENCY,
            "flaregate_rps": round(fg_rps, 1),
            "floor_rps": round(fl_rps, 1),
            "rps_ratio": round(fg_rps / fl_rps, 2),
            "flaregate_p50_ms": round(pct(fg_lat, 0.5), 2),
            "floor_p50_ms": round(pct(fl_lat, 0.5), 2),
            "p50_ratio": round(pct(fg_lat, 0.5) / pct(fl_lat, 0.5), 2),
            "flaregate_p99_ms": round(pct(fg_lat, 0.99), 2),
            "floor_p99_ms": round(pct(fl_lat, 0.99), 2),
            "p99_ratio": round(pct(fg_lat, 0.99) / pct(fl_lat, 0.99), 2),
        },
        "time_to_first_token": {
            "fake_first_token_ms": 50,
            "flaregate_ms": round(ttft_proxy, 1),
            "floor_ms": round(ttft_floor, 1),
            "ratio": round(ttft_proxy / ttft_floor, 2),
        },
        "limited_key": {
            "rps": round(statistics.median(results["limited"][0]), 1),
            "rps_ratio_vs_unlimited": round(statistics.median(results["limited"][0]) / fg_rps, 2),
            "p50_ms": round(pct(results["limited"][1], 0.5), 2),
            "added_p50_ms": round(pct(results["limited"][1], 0.5) - pct(fg_lat, 0.5), 2),
        },
        "bundle": {"bytes": len(raw), "gzip_bytes": len(gzip.compress(raw, 9))},
        "stream_transform_cpu": cpu,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
