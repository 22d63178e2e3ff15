"""SD3's VAE: FLUX.1's architecture (16 latent channels, ldm keys, no quant convs) with SD3's latent
scale 1.5305 and shift 0.0609 (configs/vae/).

The two files cannot be told apart by their tensors, so a standalone 16-channel VAE in vae/ is SD3's
when its name says so (``sd3``/``sd35`` in it: ``sd3_vae.safetensors``, ``sd3.5_vae.safetensors``)
and FLUX's otherwise; a sidecar ``NAME.config/vae/config.json`` decides for any name. An SD3
checkpoint's own VAE is always SD3's.
"""

from __future__ import annotations

import re
from pathlib import Path

from nodes.flux.vae import CONFIG_DIR as FLUX_CONFIG_DIR

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
_SD3_NAME = re.compile(r"sd[\W_]?3", re.IGNORECASE)


def sd3_vae_config_dir(path: Path) -> Path:
    """The shipped config folder (holding vae/config.json) for a standalone 16-channel VAE file."""
    return CONFIG_DIR if _SD3_NAME.search(path.name) else FLUX_CONFIG_DIR
