"""The VIDEO and AUDIO values that flow between nodes, shaped as ComfyUI's.

AUDIO is ComfyUI's dict: {"waveform": float tensor [batch, channels, samples], "sample_rate": int}.
VIDEO holds its components (frames, fps, audio): a loaded file is decoded once, when it is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Video:
    images: torch.Tensor  # IMAGE [frames, height, width, channels] in 0..1
    fps: float
    audio: dict[str, Any] | None = None


def audio_value(samples: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """float32 [channels, samples] as an AUDIO value (a batch of one)."""
    return {
        "waveform": torch.from_numpy(np.ascontiguousarray(samples)).float().unsqueeze(0),
        "sample_rate": sample_rate,
    }


def check_audio(audio: Any, name: str) -> None:
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise ValueError(
            f"{name} must be an AUDIO value: {{'waveform': [batch, channels, samples], 'sample_rate'}}."
        )
    waveform, rate = audio["waveform"], audio["sample_rate"]
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3 or waveform.shape[0] == 0:
        shape = list(waveform.shape) if isinstance(waveform, torch.Tensor) else type(waveform).__name__
        raise ValueError(f"{name}: the waveform must be [batch, channels, samples], got {shape}.")
    if not isinstance(rate, int) or not 1000 <= rate <= 384000:
        raise ValueError(f"{name}: sample_rate must be an integer from 1000 to 384000 Hz, got {rate!r}.")
