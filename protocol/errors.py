"""Every error type an execution can end with: one registry, shared by the worker, the control plane
and the docs (a test checks that docs/api.md lists each). The worker maps exceptions to these by
class (gpu_worker/errors.py), never by name."""

from __future__ import annotations

ERROR_TYPES: dict[str, str] = {
    "invalid_graph": "the graph does not validate on the worker (a model or node it lacks)",
    "invalid_node_input": "a node refused its inputs (the message says which and why)",
    "model_not_found": "a model file named by the graph is not in the worker's model store",
    "file_not_found": "an uploaded file the graph names is gone",
    "model_mismatch": "the node's inputs do not fit together (models of different families)",
    "out_of_memory": "the worker ran out of memory",
    "node_error": "a node failed inside the worker (details in the worker's log)",
    "timeout": "the execution ran past its deadline or the gpu task's time limit",
    "worker_lost": "the worker running it was lost on every attempt",
    "no_worker": "no worker served its pool for too long",
    "protocol_mismatch": "the worker speaks an older run-spec protocol than the api",
    "internal_error": "the worker failed outside any node (logged)",
    "cancelled": "cancelled by the API caller or an operator",
    "llm_endpoint_error": "an LLM endpoint answered an error status, or not a chat completion",
    "llm_endpoint_timeout": "an LLM endpoint gave no complete answer within its timeout",
    "llm_endpoint_unreachable": "an LLM endpoint could not be reached, or the SSRF guard refused its address",
    "llm_credentials_invalid": "the worker cannot decrypt the endpoint's API key (LLM_CREDENTIALS_KEY)",
}
