"""Property-based fuzzing of the live api from its own OpenAPI document (schemathesis).

Every operation gets a bounded number of generated requests, valid and invalid
by the document; an answer fails the test when it is a 5xx or does not match
the document (undocumented status, content type, headers or body shape). All
failures are collected and reported together, one line per distinct problem.
"""

from __future__ import annotations

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.api import ApiClient
from tests.support.factories import make_key, make_tenant
from tests.support.graphs import TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 20  # per generation mode: the whole test takes about a minute on 2 cores


def fuzz_failures(base_url: str, key: str) -> list[str]:
    """Run every operation of the document; the distinct failures found, as readable lines."""
    schema = schemathesis.openapi.from_url(f"{base_url}/v1/openapi.json")
    session = requests.Session()
    auth = {"Authorization": f"Bearer {key}"}
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation the document describes so badly it cannot be fuzzed
            raise AssertionError(f"the OpenAPI document is invalid: {result.err()}")
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, base_url, session, auth, failures)
    return [f"{problem}\n    e.g. {example}" for problem, example in sorted(failures.items())]


def _fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    base_url: str,
    session: requests.Session,
    auth: dict[str, str],
    failures: dict[str, str],
) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(
                base_url=base_url, session=session, headers=auth, checks=CHECKS, timeout=30
            )
        except (Exception, BaseExceptionGroup) as failure:  # schemathesis' FailureGroup: one per check
            for line in _summaries(failure):
                failures.setdefault(f"{operation.label}: {line}", _reproduce(case))

    run()


def _summaries(failure: BaseException) -> list[str]:
    inner = getattr(failure, "exceptions", None) or [failure]
    lines = set()
    for exc in inner:
        title = getattr(exc, "title", type(exc).__name__)
        detail = (str(getattr(exc, "message", "")) or str(exc)).strip().splitlines()
        lines.add(f"{title}: {detail[0][:160] if detail else ''}")
    return sorted(lines)


def _reproduce(case: schemathesis.Case) -> str:
    body = "" if isinstance(case.body, NotSet) else repr(case.body)[:200]
    return f"{case.method} {case.formatted_path} query={case.query} headers={case.headers} body={body}"


def test_the_api_answers_every_generated_request_as_its_document_says(stack, tmp_path) -> None:
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tmp_path / "hypothesis")  # its scratch files stay out of the checkout
    # A tenant with no practical rate limit, so answers show the handlers, not the limiter; one real
    # workflow and execution so that some generated ids could exist.
    tenant = make_tenant(requests_per_minute_override=1_000_000)
    key = make_key(tenant)
    client = ApiClient(stack.base_url, key)
    workflow = client.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    client.execute(workflow["id"])

    try:
        failures = fuzz_failures(stack.base_url, key)
    finally:
        set_hypothesis_home_dir(None)
    print(f"\nfuzzer: {len(failures)} distinct failure(s)")
    assert not failures, "\n".join(failures)
