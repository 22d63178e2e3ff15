"""The worker's side of LLM endpoints: decrypt the key when a request is made, send it through the
SSRF guard (protocol/outbound.py, the rules the control plane applies to webhooks), map failures to
public error types. The key lives in memory only for the request and is never logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nodes.llm_remote.chat import LlmEndpointFailed
from protocol.llm_credentials import CredentialBox, CredentialsError
from protocol.messages import LlmEndpointSpec
from protocol.outbound import OutboundFailed, OutboundPolicy, OutboundRefused, outbound_request

log = logging.getLogger(__name__)
MAX_ANSWER_BYTES = 4 * 2**20  # a chat completion is kilobytes; more is refused, never read on


@dataclass(frozen=True)
class LlmAccess:
    """What the worker's configuration gives every run: the decrypting box (None without
    LLM_CREDENTIALS_KEY) and the outbound policy (OUTBOUND_ALLOWED_HOSTS/PORTS)."""

    box: CredentialBox | None
    policy: OutboundPolicy


class WorkerLlmEndpoint:
    def __init__(self, name: str, spec: LlmEndpointSpec, access: LlmAccess) -> None:
        self.name = name
        self.model = spec["model"]
        self.max_tokens = int(spec["maxTokens"])
        self._spec = spec
        self._access = access

    def __repr__(self) -> str:
        return f"WorkerLlmEndpoint({self.name!r})"

    def _authorization(self) -> dict[str, str]:
        encrypted = self._spec.get("apiKeyEncrypted")
        if not encrypted:
            return {}
        if self._access.box is None:
            raise LlmEndpointFailed(
                f"Endpoint {self.name!r} has an API key, but this worker has no LLM_CREDENTIALS_KEY to "
                "decrypt it.",
                error_type="llm_credentials_invalid",
            )
        try:
            return {"Authorization": f"Bearer {self._access.box.decrypt(encrypted)}"}
        except CredentialsError as exc:
            raise LlmEndpointFailed(
                f"Endpoint {self.name!r}: {exc}", error_type="llm_credentials_invalid"
            ) from None

    def post_json(self, path: str, body: bytes) -> tuple[int, bytes]:
        url = self._spec["baseUrl"].rstrip("/") + path
        timeout = float(self._spec["timeoutSeconds"])
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            **self._authorization(),
        }
        try:
            response = outbound_request(
                method="POST",
                url=url,
                headers=headers,
                body=body,
                timeout=timeout,
                max_bytes=MAX_ANSWER_BYTES,
                policy=self._access.policy,
            )
        except OutboundRefused as exc:
            # The guard's words name the host and the address: the worker's log has them, the caller
            # gets the rule that refused it.
            log.warning("LLM endpoint %r refused by the outbound guard: %s", self.name, exc)
            raise LlmEndpointFailed(
                f"Endpoint {self.name!r} may not be called: the outbound guard refused it ({exc.reason}).",
                error_type="llm_endpoint_unreachable",
            ) from None
        except OutboundFailed as exc:
            log.warning("LLM endpoint %r: %s (%s)", self.name, exc, exc.error_class)
            if exc.error_class == "timeout":
                raise LlmEndpointFailed(
                    f"Endpoint {self.name!r} gave no complete answer within {timeout:g} s.",
                    error_type="llm_endpoint_timeout",
                ) from None
            raise LlmEndpointFailed(
                f"Endpoint {self.name!r} could not be reached ({exc.error_class}).",
                error_type="llm_endpoint_unreachable",
            ) from None
        if response.truncated:
            raise LlmEndpointFailed(
                f"Endpoint {self.name!r} answered more than {MAX_ANSWER_BYTES} bytes.",
                error_type="llm_endpoint_error",
            )
        return response.status, response.body
