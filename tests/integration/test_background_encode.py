"""Output files on the gpu worker's background encoder, on real Redis and S3: a run is reported
COMPLETED only once its files are stored, a failed upload fails the run, and an identical rerun
copies the earlier files under their own extensions."""

from __future__ import annotations

import dataclasses
import io
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.graphs import TINY_CHECKPOINT, text_to_image
from tests.support.stack import free_port
from tests.support.worker_runtime import run_attempt, worker_runtime


@pytest.fixture
def models(tmp_path: Path) -> Path:
    from tiny_models.sd15 import write_tiny_sd15_diffusers

    root = tmp_path / "models"
    write_tiny_sd15_diffusers(root / "checkpoints" / TINY_CHECKPOINT, seed=0)
    return root


def video_graph(seed: int) -> dict[str, Any]:
    graph = text_to_image(
        **{"3": {"seed": seed, "steps": 2}, "5": {"width": 32, "height": 32, "batch_size": 3}}
    )
    graph["4"]["inputs"]["ckpt_name"] = TINY_CHECKPOINT
    del graph["9"]
    graph["20"] = {"class_type": "CreateVideo", "inputs": {"images": ["8", 0], "fps": 6.0}}
    graph["21"] = {
        "class_type": "SaveVideo",
        "inputs": {"video": ["20", 0], "filename_prefix": "v", "format": "auto", "codec": "auto"},
    }
    return graph


def run(runtime: Any, graph: dict[str, Any], on_event) -> str:
    from gpu_worker.execution import execution_run
    from nodes.graph import output_node_ids
    from protocol.messages import RunSpec

    execution_id = f"exe_{uuid.uuid4().hex}"
    spec = RunSpec(
        execution_id=execution_id,
        attempt=1,
        tenant_id="t_encode",
        graph=graph,
        output_node_ids=output_node_ids(graph, runtime.registry),
        storage_prefix=f"tenants/t_encode/executions/{execution_id}/",
    )
    return execution_run(spec=spec, runtime=runtime, emit=on_event, worker_name="test")


def test_back_to_back_runs_complete_only_once_their_files_are_stored(db, models: Path) -> None:
    import av

    from gpu_worker.encoder import ArtifactEncoder

    runtime = worker_runtime(models)
    runtime.encoder = ArtifactEncoder(max_pending_runs=2)
    stored_at_completion: list[tuple[int, float]] = []  # (frames, fps) read back when COMPLETED was sent
    done = threading.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "started":
            return
        assert event["type"] == "completed", event
        video = event["outputs"]["21"]["videos"][0]
        data = runtime.storage.get(video["key"])  # already in S3 when the event goes out
        assert video["sizeBytes"] == len(data)
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            stored_at_completion.append(
                (sum(1 for _ in container.decode(stream)), float(stream.average_rate))
            )
        if len(stored_at_completion) == 2:
            done.set()

    assert [run(runtime, video_graph(seed), on_event) for seed in (1, 2)] == ["completed", "completed"]
    assert done.wait(60)
    assert stored_at_completion == [(3, 6.0), (3, 6.0)]
    runtime.encoder.drain()


def test_a_file_that_cannot_be_stored_fails_the_run(db, models: Path) -> None:
    from gpu_worker.encoder import ArtifactEncoder
    from gpu_worker.storage import ArtifactStorage

    runtime = worker_runtime(models)
    runtime.encoder = ArtifactEncoder()
    # Object storage is down: nothing listens where the worker sends its files.
    down = f"http://127.0.0.1:{free_port()}"
    runtime.storage = ArtifactStorage(dataclasses.replace(runtime.config, s3_endpoint_url=down))
    events: list[dict[str, Any]] = []
    run(runtime, video_graph(3), events.append)
    runtime.encoder.drain()  # the terminal event comes from the encoder's thread
    assert [e["type"] for e in events] == ["started", "failed"]
    error = events[-1]["error"]
    assert (error["type"], error["nodeId"]) == ("internal_error", "21")
    assert error["message"] == "Encoding or storing an output file failed; it has been logged."


def test_an_identical_rerun_copies_text_files_under_their_extension(db, models: Path) -> None:
    runtime = worker_runtime(models)  # no encoder: files are stored inline, as on a CPU worker
    graph = {
        "1": {
            "class_type": "SaveText",
            "inputs": {"text": "# notes", "filename_prefix": "n", "format": "md"},
        },
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    first, again = run_attempt(runtime, graph), run_attempt(runtime, graph)
    assert first.outcome == again.outcome == "completed"
    assert again.last["cachedNodes"] == ["2"]  # SaveText has an output, so it runs; PreviewAny is reused
    copied = again.last["outputs"]["2"]["text"][0]
    assert copied["key"] != first.last["outputs"]["2"]["text"][0]["key"] and copied["key"].endswith(".txt")
    assert runtime.storage.get(copied["key"]) == b"# notes" and copied["text"] == "# notes"
