"""Build the `serve` image with buildah and measure it: build time (cold = empty buildah store except the cached
debootstrap rootfs tarball; warm = layer cache after a source-only change), image size, and the base image's size.

    python benchmarks/bench_image.py [--cold]   -> outputs/bench/image_serve.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from saferlhf.io import write_json  # noqa: E402


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout


def image_mb(ref: str) -> float:
    """buildah prints sizes like "461 MB" (decimal units)."""
    value, unit = json.loads(sh("buildah", "images", "--json", ref))[0]["size"].split()
    return float(value) * {"B": 1e-6, "kB": 1e-3, "KB": 1e-3, "MB": 1.0, "GB": 1e3}[unit]


def timed_build() -> tuple[str, float]:
    t0 = time.monotonic()
    ref = sh("scripts/build_image.sh", "serve").strip().splitlines()[-1]
    return ref, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cold", action="store_true", help="first empty buildah's store (containers and images)")
    args = ap.parse_args()
    result: dict = {}
    if args.cold:
        subprocess.run(["buildah", "rm", "--all"], check=False, capture_output=True)
        subprocess.run(["buildah", "rmi", "--all", "--force"], check=False, capture_output=True)
        t0 = time.monotonic()
        base = sh("scripts/bookworm_base.sh").strip().splitlines()[-1]
        result["base_import_s"] = round(time.monotonic() - t0, 1)
        ref, result["cold_build_s"] = timed_build()
    ref, result["warm_build_s"] = timed_build()  # everything cached: the floor of a rebuild
    base = "localhost/bookworm-python:3.11"
    result |= {"image": ref, "image_mb": image_mb(ref), "base_image": base,
               "base_mb": image_mb(base), "command": " ".join(["python", *sys.argv])}
    out = REPO / "outputs" / "bench" / "image_serve.json"
    write_json(out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
