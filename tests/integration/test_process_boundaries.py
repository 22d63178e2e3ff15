"""The api process never imports torch; the gpu worker never imports Django."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

API_PROBE = """
import sys, django, json
django.setup()
from django.test import Client
from api_service.workflows.graph_check import registry
import api_service.urls, api_service.celery
c = Client()
graph = json.loads(sys.argv[1])
r = c.post("/v1/workflows", data={"name": "x", "graph": graph}, content_type="application/json")
assert r.status_code == 401, r.status_code
for spec in registry():
    spec.to_public()
worker_only = ("torch", "diffusers", "transformers", "onnxruntime", "gpu_worker.runtime")
heavy = sorted(m for m in worker_only if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""

WORKER_PROBE = """
import sys

class NoDjango:
    # The worker image has no Django installed: behave as if it were absent.
    def find_spec(self, name, path=None, target=None):
        if name == "django" or name.startswith("django."):
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, NoDjango())
import gpu_worker.celery_app, gpu_worker.tasks, gpu_worker.execution, gpu_worker.runtime
import nodes.diffusion.ops, nodes.image.ops, nodes.latent.ops
print("DJANGO=" + str("django" in sys.modules))
"""


def run_probe(code: str, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_api_process_does_not_import_torch(platform_env, db) -> None:
    import json

    from tests.support.graphs import TEXT_TO_IMAGE

    env = {**os.environ, **platform_env, "DJANGO_SETTINGS_MODULE": "api_service.settings"}
    assert "HEAVY=\n" in run_probe(API_PROBE, json.dumps(TEXT_TO_IMAGE), env=env)


def test_running_api_processes_have_no_torch_loaded(stack, api) -> None:
    from tests.support.graphs import TEXT_TO_IMAGE

    api.wait(api.execute(api.create_workflow(TEXT_TO_IMAGE)["id"]))  # exercise validation and poll first
    master = stack.group.members[0].process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert children, "gunicorn has no workers"
    for pid in [master, *map(int, children)]:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libtorch" not in maps, f"api process {pid} has torch loaded"


def test_gpu_worker_does_not_import_django() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    assert "DJANGO=False" in run_probe(WORKER_PROBE, env=env)
