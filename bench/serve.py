"""`multipose serve` measured: what the HTTP API adds over the bare estimator, and a bounded load
test. A server of the default model runs as its own process (`multipose serve`, one worker, one
thread) on 127.0.0.1; the photos of ../shared/data/photos go through it and through the same
model loaded here (one thread), interleaved.

Overhead per image: the request's round trip minus the time the server's pipeline reports for
that very request (network + decoding), minus what the bare estimator also pays to read the
file (`read_image`, timed here on the same image): upload, multipart parsing, the temporary
file, checks, JSON, queue. Load: 8 clients x 20 requests at once; failures, latency
percentiles, the server's resident memory after each round of 40 requests.

    python bench/serve.py   # writes bench/results/serve.md
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch

import multipose
from multipose.io.media import read_image

from common import write_report

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
ROUNDS, CLIENTS, REQUESTS = 3, 8, 20


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "multipose", "serve", "--port", str(port), "--workers", "1"],
        env=env,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_ms(pid: int) -> float:
    """The CPU time a process has used (user + system), ms (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return 1000 * (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def overhead(http: httpx.Client, photos: list[Path], pid: int) -> tuple[list[dict], dict]:
    """Per request: its round trip and the server's timings of it; interleaved, the bare
    estimator's read_image, its pipeline's own timing and its wall time on the same photo.
    Also the CPU time per image of the server, of the client side of the requests, and of the
    bare estimator (read_image + pipeline)."""
    pipeline = multipose.load()
    rows = []
    cpu = {"server": -cpu_ms(pid), "client": 0.0, "bare": 0.0}
    for _ in range(ROUNDS):
        for photo in photos:
            data = photo.read_bytes()
            start, cpu_start = time.perf_counter(), time.process_time()
            answer = http.post("/v1/poses", files={"image": (photo.name, data)}).json()
            trip = 1000 * (time.perf_counter() - start)
            cpu["client"] += 1000 * (time.process_time() - cpu_start)
            start, cpu_start = time.perf_counter(), time.process_time()
            image = read_image(photo)
            read = 1000 * (time.perf_counter() - start)
            pipeline(image)
            bare = 1000 * (time.perf_counter() - start)
            cpu["bare"] += 1000 * (time.process_time() - cpu_start)
            timings = answer["timings"]
            served = timings["network_ms"] + timings["decode_ms"]
            rows.append(
                {
                    "trip": trip,
                    "http": trip - timings["total_ms"],
                    "queue": timings["queue_ms"],
                    "server_read": timings["read_ms"],
                    "rest": timings["total_ms"] - timings["queue_ms"] - timings["read_ms"] - served,
                    "served": served,
                    "bare": bare,
                    "read": read,
                    "bare_untimed": bare - read - sum(pipeline.timing.values()),
                    "overhead": trip - served - read,
                }
            )
    cpu["server"] += cpu_ms(pid)
    return rows, {key: value / len(rows) for key, value in cpu.items()}


def load(port: int, pid: int, photos: list[Path]) -> tuple[list[int], list[float], list[float]]:
    """CLIENTS threads sending REQUESTS photos each; statuses, latencies (ms), server RSS (MB)
    at the start and after each 40 answers."""
    statuses, latencies, memory = [], [], [rss_mb(pid)]
    lock = threading.Lock()

    def client(k: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
            for n in range(REQUESTS):
                photo = photos[(k + n) % len(photos)]
                start = time.perf_counter()
                response = http.post("/v1/poses", files={"image": (photo.name, photo.read_bytes())})
                with lock:
                    latencies.append(1000 * (time.perf_counter() - start))
                    statuses.append(response.status_code)
                    if len(statuses) % 40 == 0:
                        memory.append(rss_mb(pid))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, latencies, memory


def main() -> None:
    torch.set_num_threads(1)
    photos = sorted(PHOTOS.glob("*.jpg"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start_server(port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
            http.post("/v1/poses", files={"image": (photos[0].name, photos[0].read_bytes())})
            rows, cpu = overhead(http, photos, server.pid)
        start = time.perf_counter()
        statuses, latencies, memory = load(port, server.pid, photos)
        seconds = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()
    median = {key: float(np.median([row[key] for row in rows])) for key in rows[0]}
    p95 = float(np.percentile([row["overhead"] for row in rows], 95))
    failed = sum(status != 200 for status in statuses)
    p50, p95_load, p99 = np.percentile(latencies, [50, 95, 99])
    lines = [
        "# `multipose serve`: API overhead and a bounded load test",
        "",
        f"Default model ({multipose.DEFAULT_MODEL}), server `multipose serve --workers 1` as its "
        "own process with OMP_NUM_THREADS=1 on 127.0.0.1, client and bare estimator (one "
        f"thread) in the bench process. Photos: the {len(photos)} JPEGs of "
        "../shared/data/photos (ski, bus, zidane and seven COCO val2014 images). Command: "
        f"`python bench/serve.py`. Machine: 2 cores shared with other work (load average "
        f"{os.getloadavg()[0]:.1f} at the end), so every thread hand-off may wait for a core.",
        "",
        f"## Overhead ({ROUNDS} rounds x {len(photos)} photos, request and bare estimate "
        "interleaved)",
        "",
        "| median ms per image | |",
        "|---|---|",
        f"| round trip of POST /v1/poses | {median['trip']:.1f} |",
        f"| of which outside the handler (HTTP, multipart, client) | {median['http']:.1f} |",
        f"| of which waiting for the worker thread | {median['queue']:.1f} |",
        f"| of which upload saved, checked and decoded | {median['server_read']:.1f} |",
        f"| of which the pipeline (network + decoding, as it reports) | {median['served']:.1f} |",
        f"| of which the rest (pipeline's untimed steps, the answer) | {median['rest']:.1f} |",
        f"| bare estimator here: read_image + pipeline | {median['bare']:.1f} |",
        f"| of which read_image | {median['read']:.1f} |",
        f"| of which the pipeline's untimed steps | {median['bare_untimed']:.1f} |",
        f"| **API overhead**: round trip - server pipeline - read_image | "
        f"**{median['overhead']:.1f}** (p95 {p95:.1f}) |",
        "",
        f"CPU time per image (all threads, ms): server {cpu['server']:.1f}, bare estimator "
        f"(read_image + pipeline) {cpu['bare']:.1f}, so **the server spends "
        f"{cpu['server'] - cpu['bare']:+.1f} ms of CPU per image beyond the bare estimator**; "
        f"the client side of a request (httpx: multipart out, JSON in) {cpu['client']:.1f}. "
        "Unlike wall times, these do not count the waits for a busy core.",
        "",
        "The round trip against the bare estimate differs by "
        f"{median['trip'] - median['bare']:+.0f} ms in medians, but two runs of the model vary "
        "by more than that here; the overhead row subtracts the time the server's own pipeline "
        "reports for the same request instead (it still counts the pipeline's untimed steps).",
        "",
        f"## Load: {CLIENTS} clients x {REQUESTS} requests at once",
        "",
        "| requests | failed | p50 ms | p95 ms | p99 ms | max ms | requests/s | server RSS MB "
        "(start, then every 40 answers) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {len(statuses)} | {failed} | {p50:.0f} | {p95_load:.0f} | {p99:.0f} | "
        f"{max(latencies):.0f} | {len(statuses) / seconds:.2f} | "
        f"{', '.join(f'{m:.0f}' for m in memory)} |",
        "",
        "One worker runs the requests one after another while the others wait in the queue (16 "
        "places), so latency is about 8 estimates; none is refused.",
    ]
    print(write_report("serve.md", lines).read_text())


if __name__ == "__main__":
    main()
