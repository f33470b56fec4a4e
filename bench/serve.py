"""`multipose serve` measured: what the HTTP API adds over the bare estimator, and a bounded load
test. The photos of ../shared/data/photos go through a server on 127.0.0.1 and through the same
model loaded here (one thread each), interleaved.

Overhead per image: the request's round trip minus the time the server's pipeline reports for
that very request (network + decoding), minus what the bare estimator also pays to read the
file (`read_image`, timed here on the same image): upload, multipart parsing, the temporary
file, checks, JSON, the thread hand-offs. Measured twice: with the default model, its server
a process of its own (`multipose serve --workers 1`); and with a small model (MobileNet-thin at
height 64, served by uvicorn in a thread of this process), where the model's seconds of compute
do not sit between the requests. Load: 8 clients x 20 requests at once at the default model's
server; failures, latency percentiles, the server's resident memory every 40 answers.

    python bench/serve.py   # writes bench/results/serve.md
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import torch
import uvicorn
from fastapi.responses import JSONResponse
from starlette.requests import Request

import multipose
from multipose.io.media import read_image
from multipose.serve import Limits, create_app
from multipose.serve.answers import image_answer
from multipose.serve.uploads import load_image, save
from multipose.specs import SPECS

from common import write_report

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
ROUNDS, CLIENTS, REQUESTS = 3, 8, 20
SMALL = SPECS["openpose-mobilenet-thin"].with_input(height=64)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_process(port: int) -> subprocess.Popen:
    """`multipose serve` of the default model, one worker, one thread; once it answers."""
    command = [sys.executable, "-m", "multipose", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"})
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


def overhead(port: int, pipeline: Callable, photos: list[Path]) -> dict[str, list[float]]:
    """Per request (ROUNDS x photos, after one warm-up): its round trip and the server's
    timings of it; interleaved, the bare estimator on the same photo (read_image, its
    pipeline's own timing, its wall time)."""
    rows: dict[str, list[float]] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
        http.post("/v1/poses", files={"image": (photos[0].name, photos[0].read_bytes())})
        for _ in range(ROUNDS):
            for photo in photos:
                data = photo.read_bytes()
                start = time.perf_counter()
                timings = http.post("/v1/poses", files={"image": (photo.name, data)}).json()[
                    "timings"
                ]
                trip = 1000 * (time.perf_counter() - start)
                start = time.perf_counter()
                image = read_image(photo)
                read = 1000 * (time.perf_counter() - start)
                pipeline(image)
                bare = 1000 * (time.perf_counter() - start)
                served = timings["network_ms"] + timings["decode_ms"]
                inside = timings["total_ms"] - timings["queue_ms"] - timings["read_ms"]
                row = {
                    "trip": trip,
                    "http": trip - timings["total_ms"],
                    "queue": timings["queue_ms"],
                    "server_read": timings["read_ms"],
                    "served": served,
                    "rest": inside - served,
                    "bare": bare,
                    "read": read,
                    "bare_untimed": bare - read - sum(pipeline.timing.values()),
                    "overhead": trip - served - read,
                }
                for key, value in row.items():
                    rows.setdefault(key, []).append(value)
    return rows


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


def small_model_overhead(photos: list[Path]) -> dict[str, list[float]]:
    """`overhead` with SMALL served by uvicorn in a thread of this process."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app([SMALL]), "127.0.0.1", port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        return overhead(port, multipose.load(SMALL), photos)
    finally:
        server.should_exit = True
        thread.join()


def parse_form(body: bytes, headers: list[tuple[bytes, bytes]]) -> float:
    """ms that Starlette takes to parse one multipart upload (64 KiB chunks, as uvicorn)."""
    chunks = [body[i : i + 2**16] for i in range(0, len(body), 2**16)]

    async def receive() -> dict:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def parse() -> float:
        scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
        start = time.perf_counter()
        form = await Request(scope, receive).form()
        elapsed = time.perf_counter() - start
        await form.close()
        return 1000 * elapsed

    return asyncio.run(parse())


def own_work(photos: list[Path]) -> dict[str, list[float]]:
    """The API's own work per photo, in one thread, without HTTP or thread hand-offs: parsing
    the multipart upload; saving, checking and reading it beyond what read_image costs; the
    answer built and encoded as JSON (the default model's people of the photo)."""
    pipeline = multipose.load()
    rows: dict[str, list[float]] = {"parse": [], "upload": [], "answer": []}
    for _ in range(ROUNDS):
        for photo in photos:
            request = httpx.Request(
                "POST", "http://x/", files={"image": (photo.name, photo.read_bytes())}
            )
            headers = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
            rows["parse"].append(parse_form(request.read(), headers))
            start = time.perf_counter()
            image = read_image(photo)
            read = time.perf_counter() - start
            with tempfile.TemporaryDirectory() as folder, photo.open("rb") as upload:
                start = time.perf_counter()
                path = save(upload, photo.name, Path(folder), 2**30)
                load_image(path, photo.name, Limits())
                rows["upload"].append(1000 * (time.perf_counter() - start - read))
            people = pipeline(image)
            start = time.perf_counter()
            answer = image_answer(people, photo.name, image.shape[1], image.shape[0], "body25")
            JSONResponse(answer)
            rows["answer"].append(1000 * (time.perf_counter() - start))
    return rows


ROWS = (
    ("round trip of POST /v1/poses", "trip"),
    ("- outside the handler (HTTP, multipart, client)", "http"),
    ("- waiting for the worker thread", "queue"),
    ("- upload saved, checked and decoded", "server_read"),
    ("- the pipeline (network + decoding, as it reports)", "served"),
    ("- the rest (pipeline's untimed steps, the answer, hand-off back)", "rest"),
    ("bare estimator here: read_image + pipeline", "bare"),
    ("- read_image", "read"),
    ("- the pipeline's untimed steps", "bare_untimed"),
)


def main() -> None:
    torch.set_num_threads(1)
    photos = sorted(PHOTOS.glob("*.jpg"))
    own = own_work(photos)
    small = small_model_overhead(photos)
    port = free_port()
    server = start_process(port)
    try:
        default = overhead(port, multipose.load(), photos)
        start = time.perf_counter()
        statuses, latencies, memory = load(port, server.pid, photos)
        seconds = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()

    def median(rows: dict, key: str) -> str:
        return f"{np.median(rows[key]):.1f}"

    table = [f"| {label} | {median(default, key)} | {median(small, key)} |" for label, key in ROWS]
    summary = " | ".join(
        f"**{np.median(rows['overhead']):.1f}** (p25 {np.percentile(rows['overhead'], 25):.1f}, "
        f"p95 {np.percentile(rows['overhead'], 95):.1f})"
        for rows in (default, small)
    )
    failed = sum(status != 200 for status in statuses)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    lines = [
        "# `multipose serve`: API overhead and a bounded load test",
        "",
        f"Photos: the {len(photos)} JPEGs of ../shared/data/photos (ski, bus, zidane and seven "
        "COCO val2014 images). Servers on 127.0.0.1, one worker with one thread "
        "(OMP_NUM_THREADS=1); the client and the bare estimator (one thread) in the bench "
        "process. Command: `python bench/serve.py`. Machine: 2 cores shared with other work "
        f"(load average {os.getloadavg()[0]:.1f} at the end), so any thread hand-off may wait "
        "for a core.",
        "",
        f"## Overhead ({ROUNDS} rounds x {len(photos)} photos, each request followed by the bare "
        "estimate of the same photo)",
        "",
        f"| median ms per image | default model ({multipose.DEFAULT_MODEL}), server process | "
        "MobileNet-thin at height 64, server thread |",
        "|---|---|---|",
        *table,
        f"| **API overhead**: round trip - server pipeline - read_image | {summary} |",
        "",
        "The API's own work per image, timed alone in one thread (no HTTP, no thread "
        "hand-offs; median ms): multipart parsing "
        f"{np.median(own['parse']):.2f}, upload saved, checked and read beyond read_image "
        f"{np.median(own['upload']):.2f}, answer built and encoded as JSON "
        f"{np.median(own['answer']):.2f}; in all "
        f"{np.median(np.sum([own[k] for k in own], axis=0)):.2f}. The rest of the overhead "
        "above is the loopback HTTP exchange and the waits of the event loop and worker "
        "threads for a core.",
        "",
        "Round trips and bare estimates of the default model differ by more than the overhead "
        "from one run of the model to the next here, so the overhead row subtracts the time "
        "the server's own pipeline reports for the same request (it still counts the "
        "pipeline's few untimed steps).",
        "",
        f"## Load: {CLIENTS} clients x {REQUESTS} requests at once, default model",
        "",
        "| requests | failed | p50 ms | p95 ms | p99 ms | max ms | requests/s | server RSS MB "
        "(start, then every 40 answers) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {len(statuses)} | {failed} | {p50:.0f} | {p95:.0f} | {p99:.0f} | "
        f"{max(latencies):.0f} | {len(statuses) / seconds:.2f} | "
        f"{', '.join(f'{m:.0f}' for m in memory)} |",
        "",
        "One worker runs the requests one after another while the others wait in the queue (16 "
        "places), so a request waits for about 8 estimates; none is refused.",
    ]
    print(write_report("serve.md", lines).read_text())


if __name__ == "__main__":
    main()
