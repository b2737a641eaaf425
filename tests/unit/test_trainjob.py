"""The TrainJob body (pure builder) against the real Kubeflow Trainer CRD schema (trimmed copy, upstream commit
in its $comment). The validator must be able to fail: a misspelt field and a bad name are rejected."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from saferlhf.errors import UserError
from saferlhf.stages import STAGE
from saferlhf.trainjob import trainjob_body

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "trainer_trainjob_v1alpha1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("stage", [s for s, v in STAGE.items() if v.distributed])
@pytest.mark.parametrize("nodes,gpus", [(1, 0), (2, 8)])
def test_body_validates_against_the_crd(stage, nodes, gpus):
    body = trainjob_body(stage, f"saferlhf-{stage}", "ghcr.io/x/saferlhf:gpu", "/cfg/c.yaml", "/outputs",
                         num_nodes=nodes, gpus_per_node=gpus, namespace="ml")
    VALIDATOR.validate(body)
    trainer = body["spec"]["trainer"]
    assert trainer["numNodes"] == nodes and trainer["numProcPerNode"] == max(gpus, 1)
    assert trainer["command"][:3] == ["torchrun", "-m", "saferlhf.cli"]
    assert trainer["command"][-2 - len(STAGE[stage].command):-2] == list(STAGE[stage].command)
    assert trainer["resourcesPerNode"]["limits"].get("nvidia.com/gpu") == (str(gpus) if gpus else None)


def test_the_schema_rejects_what_the_api_server_would():
    good = trainjob_body("train-rl", "rl", "img", "/c.yaml", "/o")
    typo = json.loads(json.dumps(good))
    typo["spec"]["trainer"]["numNode"] = 2
    bad_nodes = json.loads(json.dumps(good))
    bad_nodes["spec"]["trainer"]["numProcPerNode"] = 0
    for body in (typo, bad_nodes):
        assert list(VALIDATOR.iter_errors(body))


def test_bad_parameters_are_one_line_errors():
    with pytest.raises(UserError, match="stage must be one of"):
        trainjob_body("evaluate", "x", "img", "/c", "/o")
    with pytest.raises(UserError, match="DNS-1035"):
        trainjob_body("train-rl", "Bad_Name", "img", "/c", "/o")
    with pytest.raises(UserError, match="num_nodes"):
        trainjob_body("train-rl", "x", "img", "/c", "/o", num_nodes=0)
