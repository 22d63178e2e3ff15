"""The fleet's overhead, measured side by side in one run on whatever machine runs it (issue 10's budget).

- orchestration: a trivial execution (SolidMask -> MaskToImage -> SaveImage, 64x64) from POST execute
  to a COMPLETED poll, p50, beside a bare Celery round trip (echo task, result in Redis) on the same
  broker; the difference is what the platform adds to every run (target <= 15 ms);
- throughput: N trivial executions submitted at once, executions per second and added latency each;
- poll: requests per second of an authenticated poll beside a plain DRF view with token auth reading
  the same row, same gunicorn settings and PostgreSQL (target ratio >= 0.8);
- api memory: RSS of each api worker process after the load (target <= 150 MiB);
- SSE fan-out: events per second delivered to 100 open streams of one running execution.

    .venv/bin/python -m benchmarks.fleet_overhead [--runs 30] [--burst 30] [--seconds 5] [--streams 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

TRIVIAL = {
    "1": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}},
    "2": {"class_type": "MaskToImage", "inputs": {"mask": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench"}},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--burst", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--streams", type=int, default=100)
    args = parser.parse_args()

    from tests.support.graphs import TINY_CHECKPOINT, text_to_image
    from tests.support.services import drop_database, start_services
    from tiny_models.sd15 import write_tiny_sd15_diffusers

    tmp = Path(tempfile.mkdtemp(prefix="crucible-bench-fleet-"))
    write_tiny_sd15_diffusers(tmp / "models" / "checkpoints" / TINY_CHECKPOINT)
    services = start_services(tmp)
    env = {
        **services.env,
        "MODELS_DIR": str(tmp / "models"),
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "GPU_WORKER_DEVICE": os.environ.get("GPU_WORKER_DEVICE", "auto"),
        "DATA_DIR": str(tmp / "data"),
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api_service.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from api_service.core import storage
    from deploy.processes import ProcessGroup, api_command, wait_for
    from tests.support.api import ApiClient
    from tests.support.factories import make_key, make_tenant
    from tests.support.stack import free_port, start_stack

    storage.bucket_ensure()
    stack = start_stack(env, tmp / "logs")
    extra = ProcessGroup()
    try:
        child_env = {**os.environ, **env}
        extra.start(
            "bare",
            [sys.executable, "-m", "celery", "-A", "benchmarks.bare_celery:app", "worker",
             "-Q", "bench.bare", "-c", "1", "--prefetch-multiplier", "1",
             "--without-gossip", "--without-mingle", "-l", "WARNING"],
            log_dir=tmp / "logs",
            env=child_env,
        )  # fmt: skip
        bare = bare_round_trips(args.runs)
        api = ApiClient(stack.base_url, make_key(make_tenant(requests_per_minute_override=10_000_000)))
        workflow = api.create_workflow(TRIVIAL, name="trivial")
        latencies = [trivial_run(api, workflow["id"]) for _ in range(args.runs + 3)][3:]  # warm first
        burst_seconds, burst_rate = burst(api, workflow["id"], args.burst)
        done = api.execute(workflow["id"])
        api.wait(done)

        baseline_port = free_port()
        baseline_env = {**child_env, "DJANGO_SETTINGS_MODULE": "benchmarks.baseline_settings"}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "authtoken", "-v", "0"], env=baseline_env, check=True
        )
        token = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", TOKEN_SCRIPT],
            env=baseline_env, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        extra.start("baseline", api_command(port=baseline_port), log_dir=tmp / "logs", env=baseline_env)
        base_url = f"http://127.0.0.1:{baseline_port}"
        wait_for(lambda: requests.get(f"{base_url}/plain/x", timeout=2).status_code == 401, timeout=60)
        poll_url = f"{stack.base_url}/v1/workflows/executions/{done}/poll"
        plain_url = f"{base_url}/plain/{done}"
        auth = {"Authorization": f"Bearer {api.key}"}
        poll_rps = rate(poll_url, auth, args.seconds, args.clients)
        plain_rps = rate(plain_url, {"Authorization": f"Token {token}"}, args.seconds, args.clients)
        api_process = stack.group.members[0].process
        rss = api_rss(api_process.pid) if api_process is not None else []
        fan = sse_fanout(api, stack.base_url, args.streams, text_to_image(**{"3": {"steps": 60}}))
    finally:
        extra.stop()
        stack.group.stop()
        drop_database(services)
        services.stop()

    bare_p50, run_p50 = statistics.median(bare) * 1000, statistics.median(latencies) * 1000
    print("\nfleet overhead (same machine, same run)")
    print(f"{'bare Celery round trip p50':<46}{bare_p50:>10.1f} ms")
    print(f"{'trivial execution, execute -> COMPLETED p50':<46}{run_p50:>10.1f} ms")
    print(f"{'  p90':<46}{sorted(latencies)[int(len(latencies) * 0.9)] * 1000:>10.1f} ms")
    print(f"{'orchestration added (p50 difference)':<46}{run_p50 - bare_p50:>10.1f} ms   target <= 15 ms")
    print(f"{f'burst of {args.burst}: executions per second':<46}{burst_rate:>10.1f}")
    added = burst_seconds / args.burst * 1000 - bare_p50
    print(f"{'  added per execution (burst)':<46}{added:>10.1f} ms")
    print(f"{'authenticated poll, requests/s':<46}{poll_rps:>10.0f}")
    print(f"{'plain DRF view with token auth, requests/s':<46}{plain_rps:>10.0f}")
    print(f"{'poll / plain':<46}{poll_rps / plain_rps:>10.2f}     target >= 0.8")
    for pid, mib in rss:
        print(f"{f'api worker {pid} RSS':<46}{mib:>10.0f} MiB  target <= 150")
    n = args.streams
    print(f"{f'SSE: events delivered per second, {n} streams':<46}{fan[f'rate_{n}']:>10.0f}")
    print(f"{'SSE: events delivered per second, 1 stream':<46}{fan['rate_1']:>10.0f}")
    each = fan[f"events_{n}"] / fan["events_1"]
    print(f"{f'SSE: events per stream, {n} streams / 1 stream':<46}{each:>10.2f}     every stream gets all")
    print(f"{f'SSE: last stream after first, {n} streams':<46}{fan[f'spread_{n}']:>10.1f} ms")
    return 0


TOKEN_SCRIPT = """
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
user, _ = User.objects.get_or_create(username="bench-baseline")
print(Token.objects.get_or_create(user=user)[0].key)
"""


def bare_round_trips(runs: int) -> list[float]:
    from benchmarks.bare_celery import app

    for _ in range(3):
        app.send_task("bench.echo", args=[0], queue="bench.bare").get(timeout=120)
    out = []
    for i in range(runs):
        start = time.perf_counter()
        app.send_task("bench.echo", args=[i], queue="bench.bare").get(timeout=30)
        out.append(time.perf_counter() - start)
    return out


def trivial_run(api, workflow_id: str) -> float:
    start = time.perf_counter()
    execution_id = api.execute(workflow_id)
    while True:
        body = api.get(f"/v1/workflows/executions/{execution_id}/poll").json()
        if body["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            assert body["status"] == "COMPLETED", body
            return time.perf_counter() - start
        time.sleep(0.001)


def burst(api, workflow_id: str, count: int) -> tuple[float, float]:
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: api.execute(workflow_id), range(count)))
    for execution_id in ids:
        assert api.wait(execution_id, timeout=600)["status"] == "COMPLETED"
    seconds = time.perf_counter() - start
    return seconds, count / seconds


def rate(url: str, headers: dict, seconds: float, clients: int) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * clients

    def client(i: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            response = session.get(url, headers=headers, timeout=10)
            assert response.status_code == 200, response.text[:200]
            counts[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def api_rss(master_pid: int) -> list[tuple[int, float]]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            pid = int(stat.parent.name)
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append((pid, int(line.split()[1]) / 1024))
    return out


def sse_fanout(api, base_url: str, streams: int, graph: dict) -> dict[str, float]:
    """`streams` clients follow one run from its start (each replays from the first event, so none
    misses any); the same run shape with one client is the baseline. Every stream must get every event."""
    workflow = api.create_workflow(graph, name="fanout")

    def follow(execution_id: str, out: list[tuple[int, float]]) -> None:
        url = f"{base_url}/v1/workflows/executions/{execution_id}/events"
        n = 0
        with requests.get(url, headers={"Authorization": f"Bearer {api.key}"}, stream=True, timeout=600) as r:
            for line in r.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    n += 1
                    if line.split(": ", 1)[1] in ("execution.completed", "execution.failed"):
                        break
        out.append((n, time.perf_counter()))

    figures: dict[str, float] = {}
    for count in (streams, 1):
        execution_id = api.execute(workflow["id"])
        got: list[tuple[int, float]] = []
        threads = [threading.Thread(target=follow, args=(execution_id, got)) for _ in range(count)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ends = [t for _, t in got]
        figures[f"events_{count}"] = statistics.mean(n for n, _ in got)
        figures[f"rate_{count}"] = sum(n for n, _ in got) / (max(ends) - start)
        figures[f"spread_{count}"] = (max(ends) - min(ends)) * 1000
    return figures


if __name__ == "__main__":
    raise SystemExit(main())
