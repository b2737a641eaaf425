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

from tests.conftest import REPO

PROTO = REPO / "serving" / "proto" / "grpc_predict_v2.proto"
_DUMP = """
import json
from serving.proto import grpc_predict_v2_pb2 as pb
fields = []
def walk(d):
    if not d.GetOptions().map_entry:  # map<> fields' synthetic entry messages are not written in the .proto
        fields.extend((f.name, f.number) for f in d.fields)
    for n in d.nested_types:
        walk(n)
for m in pb.DESCRIPTOR.message_types_by_name.values():
    walk(m)
svc = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
print(json.dumps({"package": pb.DESCRIPTOR.package, "fields": fields,
                  "rpcs": [[m.name, m.input_type.name, m.output_type.name] for m in svc.methods]}))
"""


def test_generated_module_matches_proto():
    out = subprocess.run([sys.executable, "-c", _DUMP], cwd=REPO, capture_output=True, text=True, check=True)
    gen = json.loads(out.stdout)
    text = re.sub(r"//[^\n]*", "", PROTO.read_text())
    rpcs = [list(m) for m in re.findall(r"rpc\s+(\w+)\s*\(\s*(\w+)\s*\)\s*returns\s*\(\s*(\w+)\s*\)", text)]
    fields = [(n, int(k)) for n, k in re.findall(r"(?:map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;", text)]
    assert gen["package"] == "inference"
    assert gen["rpcs"] == rpcs and {r[0] for r in rpcs} == {"ServerLive", "ServerReady", "ModelReady",
                                                            "ServerMetadata", "ModelMetadata", "ModelInfer"}
    assert Counter(map(tuple, gen["fields"])) == Counter(fields)
