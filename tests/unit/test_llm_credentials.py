"""Endpoint API keys: encrypted at rest, decrypted only with the shared secret, never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from protocol.llm_credentials import CredentialBox, CredentialsError, secret_check

SECRET = "a-shared-secret-of-at-least-thirty-two-chars"
API_KEY = "sk-live-THE-REAL-KEY-0123456789"


def test_round_trip_and_ciphertext_hides_the_key() -> None:
    box = CredentialBox(SECRET)
    token = box.encrypt(API_KEY)
    assert API_KEY not in token
    assert token != box.encrypt(API_KEY)  # a fresh IV each time: equal keys do not look equal
    assert box.decrypt(token) == API_KEY
    assert CredentialBox(SECRET).decrypt(token) == API_KEY  # the same secret derives the same key


def test_another_secret_or_a_damaged_token_cannot_decrypt_and_says_nothing_of_either() -> None:
    token = CredentialBox(SECRET).encrypt(API_KEY)
    for box, text in ((CredentialBox(SECRET + "x"), token), (CredentialBox(SECRET), token[:-4] + "AAAA")):
        with pytest.raises(CredentialsError) as refused:
            box.decrypt(text)
        message = str(refused.value)
        assert "LLM_CREDENTIALS_KEY" in message
        assert API_KEY not in message and token not in message and SECRET not in message


def test_the_box_and_the_worker_config_never_show_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    from gpu_worker.config import WorkerConfig
    from protocol.timing import FleetTiming

    box = CredentialBox(SECRET)
    logging.getLogger("test").warning("box %r %s", box, box)
    assert SECRET not in caplog.text and "hidden" in repr(box)
    config = WorkerConfig(
        broker_url="redis://x",
        redis_url="redis://x",
        s3_endpoint_url="http://x",
        s3_access_key="a",
        s3_secret_key="b",
        s3_bucket="c",
        s3_region="d",
        models_dir=Path("."),
        device="cpu",
        pool="default",
        model_cache_bytes=0,
        node_cache_bytes=0,
        timing=FleetTiming(),
        llm_credentials_key=SECRET,
    )
    assert SECRET not in repr(config)
    assert config.llm_access.box is not None
    assert config.llm_access.box.decrypt(box.encrypt(API_KEY)) == API_KEY


def test_a_short_secret_is_refused_naming_the_setting_not_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_worker.config import ConfigError, WorkerConfig

    with pytest.raises(ValueError, match="at least 32"):
        secret_check("short")
    monkeypatch.setenv("LLM_CREDENTIALS_KEY", "tiny-secret")
    with pytest.raises(ConfigError, match="LLM_CREDENTIALS_KEY") as refused:
        WorkerConfig.from_env()
    assert "tiny-secret" not in str(refused.value)
    monkeypatch.setenv("LLM_CREDENTIALS_KEY", SECRET)
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1,ollama:11434")
    config = WorkerConfig.from_env()
    assert config.outbound_allowed_hosts == (("127.0.0.1", None), ("ollama", 11434))
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", "host:abc")
    with pytest.raises(ConfigError, match="OUTBOUND_ALLOWED_HOSTS"):
        WorkerConfig.from_env()
