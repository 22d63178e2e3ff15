"""A model the workers cannot load is a 400 at validation, naming node, input and why; never queued."""

from __future__ import annotations

import time
import uuid


def test_a_broken_pickled_checkpoint_is_refused_before_anything_is_stored(api, models_dir, request) -> None:
    from tests.support.graphs import text_to_image

    name = f"legacy-{uuid.uuid4().hex[:8]}.ckpt"
    path = models_dir / "checkpoints" / name
    path.write_bytes(b"\x80\x02not loaded, never unpickled")
    request.addfinalizer(lambda: path.unlink(missing_ok=True))

    def listed() -> dict | None:
        entries = api.get("/v1/models").json()["checkpoints"]
        return next((entry for entry in entries if entry["name"] == name), None)

    deadline = time.monotonic() + 30
    while listed() is None:  # the api memoises its listing for a few seconds
        assert time.monotonic() < deadline, "the model store never listed the new file"
        time.sleep(0.5)
    entry = listed()
    assert entry is not None
    assert entry["loadable"] is False and "not a readable torch weights file" in entry["notLoadableReason"]

    graph = text_to_image(**{"4": {"ckpt_name": name}})
    response = api.post("/v1/workflows", json={"name": "legacy", "graph": graph})
    assert response.status_code == 400, response.text
    [problem] = response.json()["error"]["nodeErrors"]["4"]["errors"]
    assert (problem["type"], problem["input"]) == ("model_not_loadable", "ckpt_name")
    assert name in problem["message"] and "convert it to .safetensors" in problem["message"]
    assert api.get("/v1/workflows").json()["items"] == []


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(api, models_dir, request, tmp_path) -> None:
    import torch

    from tests.support.graphs import text_to_image

    marker = tmp_path / "pwned"
    name = f"evil-{uuid.uuid4().hex[:8]}.ckpt"
    path = models_dir / "checkpoints" / name
    torch.save({"state_dict": {"model.diffusion_model.x": torch.zeros(1)}, "x": _Payload(str(marker))}, path)
    request.addfinalizer(lambda: path.unlink(missing_ok=True))

    deadline = time.monotonic() + 30
    while (entry := _listed(api, name)) is None:
        assert time.monotonic() < deadline, "the model store never listed the new file"
        time.sleep(0.5)
    assert entry["loadable"] is False and "would run code" in entry["notLoadableReason"]
    assert "system" in entry["notLoadableReason"]
    response = api.post(
        "/v1/workflows", json={"name": "evil", "graph": text_to_image(**{"4": {"ckpt_name": name}})}
    )
    assert response.status_code == 400, response.text
    [problem] = response.json()["error"]["nodeErrors"]["4"]["errors"]
    assert (problem["type"], problem["input"]) == ("model_not_loadable", "ckpt_name")
    assert not marker.exists()


def _listed(api, name: str, folder: str = "checkpoints") -> dict | None:
    entries = api.get("/v1/models").json()[folder]
    return next((entry for entry in entries if entry["name"] == name), None)


def test_an_llm_folder_that_needs_remote_code_is_listed_as_not_loadable_and_refused(
    api, models_dir, request
) -> None:
    import json
    import shutil

    from tests.support.llm_models import TINY_LLAMA

    name = f"remote-code-{uuid.uuid4().hex[:8]}"
    folder = models_dir / "llm" / name
    shutil.copytree(models_dir / "llm" / TINY_LLAMA, folder)
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))

    deadline = time.monotonic() + 30
    while (entry := _listed(api, name, "llm")) is None:
        assert time.monotonic() < deadline, "the model store never listed the new folder"
        time.sleep(0.5)
    assert (entry["format"], entry["family"], entry["loadable"]) == ("transformers", "llama", False)
    assert "trust_remote_code" in entry["notLoadableReason"]

    graph = {
        "1": {"class_type": "LLMLoader", "inputs": {"llm_name": name}},
        "2": {"class_type": "LLMGenerate", "inputs": {"llm": ["1", 0], "prompt": "a fox"}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    response = api.post("/v1/workflows", json={"name": "remote code", "graph": graph})
    assert response.status_code == 400, response.text
    [problem] = response.json()["error"]["nodeErrors"]["1"]["errors"]
    assert (problem["type"], problem["input"]) == ("model_not_loadable", "llm_name")
    assert name in problem["message"] and "trust_remote_code" in problem["message"]
