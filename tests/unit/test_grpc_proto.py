"""The committed gRPC module is generated from the committed .proto (without protoc here: scripts/gen_grpc.py
--check needs grpcio-tools, which cannot share this venv). Runs in a subprocess: importing the module registers
`inference.*` in protobuf's default pool, where tritonclient's copy of the same messages (the conformance tests)
would collide."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from tests.conftest import REPO

PROTO_DIR = REPO / "serving" / "proto"
_DUMP = """
import importlib, json, sys
pb = importlib.import_module("serving.proto." + sys.argv[1])
fields = []
def walk(d):
    if not d.GetOptions().map_entry:  # map<> fields' synthetic entry messages are not written in the .proto
        fields.extend((f.name, f.number) for f in d.fields)
    for n in d.nested_types:
        walk(n)
for m in pb.DESCRIPTOR.message_types_by_name.values():
    walk(m)
(svc,) = pb.DESCRIPTOR.services_by_name.values()
print(json.dumps({"package": pb.DESCRIPTOR.package, "service": svc.name, "fields": fields,
                  "rpcs": [[m.name, m.input_type.name, m.output_type.name] for m in svc.methods]}))
"""


@pytest.mark.parametrize("proto, package, service, rpcs", [
    ("grpc_predict_v2", "inference", "GRPCInferenceService",
     {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"}),
    ("health", "grpc.health.v1", "Health", {"Check"}),
])
def test_generated_module_matches_proto(proto, package, service, rpcs):
    out = subprocess.run([sys.executable, "-c", _DUMP, f"{proto}_pb2"], cwd=REPO, capture_output=True, text=True,
                         check=True)
    gen = json.loads(out.stdout)
    text = re.sub(r"//[^\n]*", "", (PROTO_DIR / f"{proto}.proto").read_text())
    declared = [list(m) for m in re.findall(r"rpc\s+(\w+)\s*\(\s*(\w+)\s*\)\s*returns\s*\(\s*(\w+)\s*\)", text)]
    fields = [(n, int(k)) for n, k in re.findall(r"(?:map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;", text)]
    assert (gen["package"], gen["service"]) == (package, service)
    assert gen["rpcs"] == declared and {r[0] for r in declared} == rpcs
    assert Counter(map(tuple, gen["fields"])) == Counter(fields)
