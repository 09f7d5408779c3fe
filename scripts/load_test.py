"""Load test of ``serve`` on loopback: concurrent clients against one request at a time.

    .venv/bin/python -m scripts.load_test [--run-dir runs/default] [--clients 32] [--requests 25]
        [--beam-size N] [--max-wait-ms MS] [--shortlist N]

Starts the service on a free 127.0.0.1 port, then (1) ``--clients`` threads each send
``--requests`` requests of 1-4 test-split sentences, all at once; (2) the same requests one
at a time. Every client keeps its connection open between requests (HTTP/1.1 keep-alive, as
HTTP libraries and load generators do). Checks that every answer holds its own sentences, in
order, with the same translation as when sent alone, and reports sentences/s and p50/p99
latency of both, and their ratio. Writes ``runs/load-test.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from translator.serving.serve import MAX_QUEUE, MAX_WAIT_MS

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT_S = 900


def post(
    connection: http.client.HTTPConnection, sentences: list[str], beam_size: int | None = None
) -> tuple[float, list[dict]]:
    """One request on a kept-alive connection (as HTTP clients and load generators do)."""
    body = json.dumps({"text": sentences, "beam_size": beam_size}).encode()  # one send()
    started = time.perf_counter()
    connection.request("POST", "/translate", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {answer}")
    return time.perf_counter() - started, answer["translations"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(port: int, jobs: list[list[list[str]]], concurrent: bool, beam_size=None):
    """Send every request; returns the figures and each sentence's translation.

    Each client keeps one connection open for all of its requests.
    """
    latencies, errors, wrong, translated = [], [], 0, {}
    lock = threading.Lock()

    def client(requests):
        nonlocal wrong
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for sentences in requests:
            try:
                seconds, answers = post(connection, sentences, beam_size)
            except Exception as error:  # noqa: BLE001 (counted and reported)
                with lock:
                    errors.append(repr(error))
                connection.close()  # the next request opens a new one
                continue
            with lock:
                latencies.append(seconds)
                wrong += [a["source"] for a in answers] != sentences
                translated.update((a["source"], a["translation"]) for a in answers)

    started = time.perf_counter()
    if concurrent:
        threads = [threading.Thread(target=client, args=(requests,)) for requests in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIME_LIMIT_S)
    else:
        client([r for requests in jobs for r in requests])
    seconds = time.perf_counter() - started
    sentences = sum(len(r) for requests in jobs for r in requests)
    return {
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "wrong_or_reordered": wrong,
        "sentences": sentences,
        "seconds": round(seconds, 2),
        "sentences_per_s": round(sentences / seconds, 1),
        "latency_p50_ms": round(1000 * statistics.median(latencies), 1),
        "latency_p99_ms": round(1000 * percentile(latencies, 99), 1),
        "first_errors": errors[:3],
    }, translated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default="runs/default")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=25, help="requests per client")
    parser.add_argument(
        "--beam-size", type=int, help="the requests' beam width (default: the run's)"
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=MAX_WAIT_MS,
        help=f"the server's --max-wait-ms, a batch's wait for more (default {MAX_WAIT_MS:g})",
    )
    parser.add_argument(
        "--shortlist", type=int, help="the server's --shortlist (default: the run's)"
    )
    parser.add_argument("--out", default="runs/load-test.json")
    args = parser.parse_args()

    from translator.data.corpus import load_corpus, references_by_source
    from translator.training.rundir import load_run

    run = load_run(args.run_dir)
    sources = list(references_by_source(load_corpus(run.config.data).split("test"))["source"])
    rng = random.Random(0)
    jobs = [
        [rng.sample(sources, rng.randint(1, 4)) for _ in range(args.requests)]
        for _ in range(args.clients)
    ]
    with socket.socket() as probe:  # a free loopback port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "translator",
            "serve",
            "--run-dir",
            args.run_dir,
            "--port",
            str(port),
            "--max-wait-ms",
            str(args.max_wait_ms),
            "--max-queue",
            str(MAX_QUEUE),
            *(["--shortlist", str(args.shortlist)] if args.shortlist is not None else []),
        ],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        warm_up = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        post(warm_up, sources[:4], args.beam_size)  # trace the decoder
        warm_up.close()
        report = {
            "run": args.run_dir,
            "beam_size": args.beam_size or run.options.beam_size,
            "max_wait_ms": args.max_wait_ms,
            "shortlist": run.options.shortlist if args.shortlist is None else args.shortlist,
            "clients": args.clients,
            "requests_per_client": args.requests,
        }
        report["concurrent"], batched = measure(
            port, jobs, concurrent=True, beam_size=args.beam_size
        )
        report["one_at_a_time"], alone = measure(
            port, jobs, concurrent=False, beam_size=args.beam_size
        )
        # A translation that changed with its batch-mates would show a mix-up between requests.
        report["translations_differing_batched_vs_alone"] = sum(
            batched.get(source) != translation for source, translation in alone.items()
        )
        with urllib.request.urlopen(url + "/health") as response:
            report["health"] = json.loads(response.read())
    finally:
        server.send_signal(signal.SIGTERM)
        report_code = server.wait(timeout=60)
    report["server_exit_code"] = report_code
    report["speedup"] = round(
        report["concurrent"]["sentences_per_s"] / report["one_at_a_time"]["sentences_per_s"], 2
    )
    Path(args.out).write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
