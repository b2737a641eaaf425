"""Regenerate serving/proto/*_pb2.py from serving/proto/*.proto (the Open Inference Protocol's gRPC service and
gRPC's health service), or check they are current.

The generated modules are committed (the serve image has no compiler). grpcio-tools cannot live in the project venv:
each release requires grpcio >= itself, and the stock Triton client used in the tests needs grpcio < 1.68, whose
grpcio-tools only emits protobuf-5 code. So run this with any Python that has grpcio-tools 1.81.x (its protoc
writes protobuf 6.33 code, which the pinned protobuf 6.33.6 runtime accepts):

    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install grpcio-tools==1.81.1
    /tmp/gen/bin/python scripts/gen_grpc.py          # rewrite the module
    /tmp/gen/bin/python scripts/gen_grpc.py --check  # exit 1 when the committed module is stale
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parents[1] / "serving" / "proto"
PROTOS = ("grpc_predict_v2.proto", "health.proto")


def generate(out_dir: Path) -> list[Path]:
    from grpc_tools import protoc

    for proto in PROTOS:
        rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", str(PROTO_DIR / proto)])
        if rc != 0:
            raise SystemExit(f"protoc failed on {PROTO_DIR / proto} (exit {rc})")
    return [out_dir / p.replace(".proto", "_pb2.py") for p in PROTOS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed module instead of writing")
    args = ap.parse_args()
    if not args.check:
        print("wrote", *generate(PROTO_DIR))
        return
    with tempfile.TemporaryDirectory() as tmp:
        stale = [f.name for f in generate(Path(tmp)) if f.read_text() != (PROTO_DIR / f.name).read_text()]
    if stale:
        sys.exit(f"stale in {PROTO_DIR}: {', '.join(stale)}; regenerate with scripts/gen_grpc.py")
    print("generated modules are current")


if __name__ == "__main__":
    main()
