"""flaregate benchmarks: ratios against baselines measured in the same run, never absolute limits.

1. Non-streaming chat through flaregate vs a floor Worker that returns the fake binding's result
   untouched (scripts/floor_worker.js), both in workerd with the same fake AI: requests/s, p50, p99.
   Two modes, each in alternating blocks so a noisy minute on the shared machine hits both sides:
   - sequential: one keep-alive connection, one request at a time (2,000 per side by default),
     which measures the Worker's own per-request overhead (the floor does no auth, validation,
     normalization or logging);
   - concurrent: 8 clients at once, which measures throughput under load.
2. Time to first streamed token through flaregate vs the floor, with a fake whose first token
   takes 50 ms.
3. Rendered bundle size (raw and gzip).
4. CPU of the stream transform per 1,000 tokens vs an identity transform (scripts/bench_stream_cpu.mjs).
5. A key with limits (rpm and tokens_per_day, so every request asks its KeyLimiter Durable Object
   and reports tokens) vs a key without, in alternating blocks: the added p50 latency and the
   request-rate ratio.
6. The per-request log line alone: the floor writing one line per request with the fields of
   flaregate's (FLOOR_LOG_LINE) vs the floor, sequential like 1. Its rate ratio is the most a Worker
   that logs every request can reach against the floor in this harness (workerd's stdout through
   Miniflare to the runner).
7. Where the sequential gap goes (breakdown): copies of the rendered Worker with one more layer
   taken out each (the log line; then the chat handler, replaced by the floor's three lines; then
   the key check), each against the floor like 1. The differences between neighbours are what
   each layer costs per request. A diagnostic, not a build: the copies are made by replacing
   code in the rendered file, and the part fails naming the code it no longer finds.

    bash scripts/bench                          # everything (after `bash scripts/test`)
    bash scripts/bench --only sequential        # just the per-request overhead A/B
    bash scripts/bench --only sequential --only log-line   # ... beside what the log line alone costs
    bash scripts/bench --only breakdown        # the sequential gap, layer by layer
    bash scripts/bench --only sequential --requests 4000 --blocks 20
    bash scripts/bench --only sequential --worker old/worker.js   # an earlier build, same A/B
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
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
# The request every rate part sends: a short non-streamed chat answer from a recorded fixture.
CHAT = {
    "model": "@cf/meta/llama-3.1-8b-instruct-fp8",
    "messages": [{"role": "user", "content": "fixture:llama-3.1-8b-native-text"}],
}
REQUESTS = 400
BLOCKS = 4
PARTS = [
    "sequential",
    "log-line",
    "breakdown",
    "concurrent",
    "ttft",
    "limited-key",
    "bundle",
    "stream-cpu",
]

# The breakdown's layers, outermost first: (name, what is taken out, [(code in the rendered
# worker.js, what replaces it)]). Each copy also lacks every layer above it.
FLOOR_HANDLER = (
    "  { const b = await ctx.request.json(); const result = await ctx.env.AI.run(b.model, "
    "{ messages: b.messages, stream: b.stream === true }); return Response.json(result); }\n"
)
LAYERS = [
    (
        "without_log_line",
        "console.log of the per-request line (router.js)",
        # The line is still built and serialized; only console.log goes.
        [
            (
                "console.log(JSON.stringify(extra ? { ...logLine(",
                "JSON.stringify((extra ? { ...logLine(",
            )
        ],
    ),
    (
        "router_and_auth_only",
        "the chat handler: body checks, model resolution, inputs, deadline, normalizer, encoder",
        [
            (
                "async function handleChatCompletions(ctx) {\n",
                "async function handleChatCompletions(ctx) {\n" + FLOOR_HANDLER,
            )
        ],
    ),
    (
        "router_only",
        "the key check (auth.js: SHA-256 of the key, cached KV lookup)",
        [
            (
                "const key = await authenticate(request, env, ctx.settings);",
                'const key = { id: "bench" };',
            )
        ],
    ),
]


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


def sequential(url: str, headers: dict, body: dict, count: int) -> tuple[float, list[float]]:
    """`count` requests one after another on one keep-alive connection: (requests/s, latencies)."""
    latencies: list[float] = []
    with httpx.Client(headers=headers, timeout=30) as client:
        start = time.perf_counter()
        for _ in range(count):
            t = time.perf_counter()
            client.post(url, json=body).raise_for_status()
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
    return count / elapsed, latencies


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def runtime_cpu_seconds(runner_pid: int) -> float:
    """User + system CPU seconds of the workerd processes under a worker runner (Linux /proc;
    0 elsewhere, and the CPU figures are then meaningless)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == runner_pid and "workerd" in name:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def ab_blocks(run, sides: dict[str, tuple], count: int, blocks: int) -> dict:
    """Runs `count` requests per side in `blocks` alternating blocks (A B B A A B ...: the order
    flips every block so neither side always follows the other) and reports each side's overall
    rate (requests / total time in its blocks) and latency percentiles, their ratios, and the
    ratio in each pair of neighbouring blocks: its median is what to read on a shared machine,
    where a burst of someone else's work slows a few blocks, not one side."""
    per_block = max(1, count // blocks)
    elapsed = {name: 0.0 for name in sides}
    cpu = {name: 0.0 for name in sides}
    latencies: dict[str, list[float]] = {name: [] for name in sides}
    block_ratios = []
    names = list(sides)
    for b in range(blocks):
        rates = {}
        for name in names if b % 2 == 0 else reversed(names):
            url, headers, body, pid = sides[name]
            before = runtime_cpu_seconds(pid)
            rps, lat = run(url, headers, body, per_block)
            cpu[name] += runtime_cpu_seconds(pid) - before
            rates[name] = rps
            elapsed[name] += per_block / rps
            latencies[name].extend(lat)
        block_ratios.append(rates[names[0]] / rates[names[1]])
    a, b = names
    rate = {name: per_block * blocks / elapsed[name] for name in names}
    quartiles = (
        statistics.quantiles(block_ratios, n=4) if len(block_ratios) > 1 else block_ratios * 3
    )
    return {
        "requests_per_side": per_block * blocks,
        "blocks": blocks,
        f"{a}_rps": round(rate[a], 1),
        f"{b}_rps": round(rate[b], 1),
        "rps_ratio": round(rate[a] / rate[b], 3),
        "block_ratio_median": round(statistics.median(block_ratios), 3),
        "block_ratio_quartiles": [round(quartiles[0], 3), round(quartiles[2], 3)],
        f"{a}_p50_ms": round(pct(latencies[a], 0.5), 3),
        f"{b}_p50_ms": round(pct(latencies[b], 0.5), 3),
        "p50_delta_ms": round(pct(latencies[a], 0.5) - pct(latencies[b], 0.5), 3),
        f"{a}_p99_ms": round(pct(latencies[a], 0.99), 3),
        f"{b}_p99_ms": round(pct(latencies[b], 0.99), 3),
        # CPU of each side's workerd per request: unlike the rates, barely moved by other work
        # on the machine. The ratio is the floor's CPU over ours (1.0: no overhead at all).
        f"{a}_workerd_cpu_us": round(cpu[a] / (per_block * blocks) * 1e6, 1),
        f"{b}_workerd_cpu_us": round(cpu[b] / (per_block * blocks) * 1e6, 1),
        "workerd_cpu_ratio": round(cpu[b] / cpu[a], 3) if cpu[a] else None,
    }


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only these parts (repeatable); default: all",
    )
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per side")
    parser.add_argument("--blocks", type=int, default=40, help="alternating blocks per side")
    parser.add_argument(
        "--worker",
        type=Path,
        help="benchmark this rendered worker.js (e.g. an older build) instead of rendering one",
    )
    args = parser.parse_args()
    parts = set(args.only or PARTS)

    work = Path(tempfile.mkdtemp(prefix="flaregate-bench-"))
    if args.worker:
        script = args.worker.resolve()
    else:
        write_bundle(WorkerConfig(), work / "dist")
        script = work / "dist" / "worker.js"
    report: dict = {}
    if "breakdown" in parts:
        report["breakdown"] = breakdown(script, work, args.requests, args.blocks)
    if parts & {"sequential", "log-line", "concurrent", "ttft", "limited-key"}:
        report.update(workerd_benchmarks(script, work, parts, args.requests, args.blocks))
    if "bundle" in parts:
        raw = script.read_bytes()
        report["bundle"] = {"bytes": len(raw), "gzip_bytes": len(gzip.compress(raw, 9))}
    if "stream-cpu" in parts:
        report["stream_transform_cpu"] = json.loads(
            subprocess.run(
                [
                    "node",
                    str(REPO / "scripts" / "bench_stream_cpu.mjs"),
                    str(script),
                    "1000",
                    "300",
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    print(json.dumps(report, indent=2))


def workerd_benchmarks(script: Path, work: Path, parts: set, requests: int, blocks: int) -> dict:
    proxy = start_worker(script, work)
    floor = start_worker(REPO / "scripts" / "floor_worker.js", work)
    logging_floor = None
    if "log-line" in parts:
        logging_floor = start_worker(
            REPO / "scripts" / "floor_worker.js", work, vars={"FLOOR_LOG_LINE": "1"}
        )
    report: dict = {}
    try:
        key = proxy.add_key(name="bench")
        auth = {"authorization": f"Bearer {key}"}
        chat = CHAT
        sides = {
            "flaregate": (f"{proxy.base_url}/chat/completions", auth, chat, proxy.process.pid),
            "floor": (floor.url, {}, chat, floor.process.pid),
        }
        for url, headers, body, _ in sides.values():  # warm up both (JIT, auth cache)
            load(url, headers, body, 80)
            sequential(url, headers, body, 200)
        if "sequential" in parts:
            report["sequential_chat"] = ab_blocks(sequential, sides, requests, blocks)
        if logging_floor is not None:
            logged = (logging_floor.url, {}, chat, logging_floor.process.pid)
            sequential(logging_floor.url, {}, chat, 200)
            report["log_line_alone"] = ab_blocks(
                sequential,
                {"floor_with_log_line": logged, "floor": sides["floor"]},
                requests,
                blocks,
            )
        if "concurrent" in parts:
            report["concurrent_chat"] = {
                "concurrency": CONCURRENCY,
                **ab_blocks(load, sides, REQUESTS, BLOCKS),
            }
        if "limited-key" in parts:
            limited = "sk-fg-" + secrets.token_urlsafe(32)  # limits high enough never to refuse
            record = {"id": "benchlimited", "name": "bench-limited"}
            record.update(created_at="2026-01-01T00:00:00Z", expires_at=None)
            record.update(rpm=10**9, tokens_per_day=10**15)
            proxy.kv_put(f"key:{hashlib.sha256(limited.encode()).hexdigest()}", json.dumps(record))
            url = f"{proxy.base_url}/chat/completions"
            limited_auth = {"authorization": f"Bearer {limited}"}
            load(url, limited_auth, chat, 80)
            report["limited_key"] = ab_blocks(
                load,
                {
                    "limited": (url, limited_auth, chat, proxy.process.pid),
                    "unlimited": (url, auth, chat, proxy.process.pid),
                },
                REQUESTS,
                BLOCKS,
            )
        if "ttft" in parts:
            slow = {
                "model": "@cf/meta/llama-3.1-8b-instruct-fp8",
                "messages": [{"role": "user", "content": "slow:3:50"}],
                "stream": True,
            }
            ttft_proxy = first_token_ms(f"{proxy.base_url}/chat/completions", auth, slow)
            ttft_floor = first_token_ms(floor.url, {}, slow)
            report["time_to_first_token"] = {
                "fake_first_token_ms": 50,
                "flaregate_ms": round(ttft_proxy, 1),
                "floor_ms": round(ttft_floor, 1),
                "ratio": round(ttft_proxy / ttft_floor, 2),
            }
    finally:
        proxy.stop()
        floor.stop()
        if logging_floor is not None:
            logging_floor.stop()
    return report


def breakdown(script: Path, work: Path, requests: int, blocks: int) -> dict:
    """Each layer's copy of the rendered Worker against the floor (see LAYERS), and what each
    layer costs: the change in rate ratio, p50 and workerd CPU from the copy above it."""
    source = script.read_text()
    copies = [("flaregate", "nothing", script)]
    for name, removed, edits in LAYERS:
        for code, replacement in edits:
            if source.count(code) != 1:
                sys.exit(
                    f"breakdown: the rendered worker.js no longer has exactly one {code!r}; update LAYERS"
                )
            source = source.replace(code, replacement)
        copy = work / f"{name}.js"
        copy.write_text(source)
        copies.append((name, removed, copy))
    floor = start_worker(REPO / "scripts" / "floor_worker.js", work)
    rows: list[dict] = []
    try:
        sequential(floor.url, {}, CHAT, 200)
        floor_side = (floor.url, {}, CHAT, floor.process.pid)
        for name, removed, copy in copies:
            worker = start_worker(copy, work)
            try:
                auth = {"authorization": f"Bearer {worker.add_key(name='bench')}"}
                url = f"{worker.base_url}/chat/completions"
                sequential(url, auth, CHAT, 200)
                ab = ab_blocks(
                    sequential,
                    {"copy": (url, auth, CHAT, worker.process.pid), "floor": floor_side},
                    requests,
                    blocks,
                )
            finally:
                worker.stop()
            rows.append(
                {
                    "copy": name,
                    "taken_out": removed,
                    "block_ratio_median": ab["block_ratio_median"],
                    "rps_ratio": ab["rps_ratio"],
                    "p50_delta_ms": ab["p50_delta_ms"],
                    "workerd_cpu_us": ab["copy_workerd_cpu_us"],
                    "floor_workerd_cpu_us": ab["floor_workerd_cpu_us"],
                }
            )
    finally:
        floor.stop()
    for above, row in zip(rows, rows[1:], strict=False):
        # What the layer taken out of `row` cost `above`: read beside the ratios, not alone.
        row["layer_cost"] = {
            "block_ratio": round(row["block_ratio_median"] - above["block_ratio_median"], 3),
            "p50_ms": round(above["p50_delta_ms"] - row["p50_delta_ms"], 3),
            "workerd_cpu_us": round(
                (above["workerd_cpu_us"] - above["floor_workerd_cpu_us"])
                - (row["workerd_cpu_us"] - row["floor_workerd_cpu_us"]),
                1,
            ),
        }
    return {"requests_per_side": requests, "copies": rows}


if __name__ == "__main__":
    main()
