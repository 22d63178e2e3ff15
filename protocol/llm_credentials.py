"""API keys of LLM endpoints, encrypted at rest and in flight to the gpu workers.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`), with a key derived by HKDF-SHA256 from
one secret, LLM_CREDENTIALS_KEY (never SECRET_KEY: the workers must not hold the secret that signs
admin sessions; without it no key can be stored). The control plane encrypts when ops save a key in
the admin; the ciphertext is what the database holds and what a run spec carries. Only a gpu worker
decrypts, right before the request, with the same secret from its own environment
(gpu_worker/config.py). docs/llm_endpoints.md describes the trust model.

Neutral on purpose: both sides import it, and it imports neither.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# A different `info` gives a different key from the same secret: this key is for nothing else.
HKDF_INFO = b"crucible/llm-endpoint-credentials/v1"
MIN_SECRET_CHARS = 32


class CredentialsError(ValueError):
    """The ciphertext cannot be read with this key (another key, or damaged); says nothing of either."""


def secret_check(secret: str, *, name: str = "LLM_CREDENTIALS_KEY") -> str:
    """The secret, or ValueError naming the setting (never echoing the value)."""
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"{name} must be at least {MIN_SECRET_CHARS} characters (it has {len(secret)}).")
    return secret


class CredentialBox:
    """Encrypts and decrypts API keys. Its repr shows nothing of the key, so a log line cannot leak it."""

    def __init__(self, secret: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "CredentialBox(<key hidden>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, UnicodeError, ValueError):
            raise CredentialsError(
                "The endpoint's API key cannot be decrypted with this LLM_CREDENTIALS_KEY; "
                "the control plane and the gpu workers must share the same one."
            ) from None
