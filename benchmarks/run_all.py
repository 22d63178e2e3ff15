"""Every benchmark, one after the other: `make bench`."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "benchmarks.execution_latency",
    "benchmarks.cancel_latency",
    "benchmarks.fleet_overhead",
    "benchmarks.background_encode",
    "benchmarks.model_load_memory",
    "benchmarks.flux_step_overhead",
    "benchmarks.sd3_step_overhead",
]

if __name__ == "__main__":
    for module in BENCHMARKS:
        subprocess.run([sys.executable, "-m", module], check=True)
