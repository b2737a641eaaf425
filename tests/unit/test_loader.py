"""Validators: each bad-file class fails with one line naming file, row and problem."""

import json

import pytest

from saferlhf.data.loader import load_labels, load_prompts
from saferlhf.errors import UserError

HEADER = "id,prompt,response,safety_score,toxicity_score,hallucination_risk,compliance_score\n"
ROW = "r1,How do I bake bread?,Mix flour and water.,0.9,0.1,0.1,0.9\n"


def _err(path) -> str:
    with pytest.raises(UserError) as e:
        (load_labels if path.suffix == ".csv" and "lab" in path.name else load_prompts)(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_good_labels_load(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text(HEADER + ROW + ROW.replace("r1", "r2"))
    df = load_labels(p)
    assert len(df) == 2 and df["safety_score"].dtype.kind == "f"


@pytest.mark.parametrize("content, expected", [
    (HEADER.replace(",compliance_score", "") + "r1,a,b,0.9,0.1,0.1\n", "missing column(s) compliance_score"),
    (HEADER + ROW.replace("0.9,0.1,0.1,0.9", "1.5,0.1,0.1,0.9"), "row 2: safety_score must be a number in [0, 1]"),
    (HEADER + ROW.replace("0.9,0.1,0.1,0.9", "0.9,abc,0.1,0.9"), "row 2: toxicity_score"),
    (HEADER + ROW.replace("How do I bake bread?", ""), "row 2: empty prompt"),
    (HEADER + ROW + ROW, "row 3: duplicate id 'r1'"),
    (HEADER, "no rows"),
])
def test_bad_labels(tmp_path, content, expected):
    p = tmp_path / "labels.csv"
    p.write_text(content)
    assert expected in _err(p)


def test_missing_file(tmp_path):
    assert "file not found" in _err(tmp_path / "labels.csv")


@pytest.mark.parametrize("name, content", [
    ("p.json", json.dumps(["a", {"prompt": "b", "id": "x"}])),
    ("p.jsonl", '{"prompt": "a"}\n\n"b"\n'),
    ("p.csv", "prompt,category\na,x\nb,y\n"),
    ("p.txt", "a\n\nb\n"),
])
def test_prompt_formats(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content)
    assert [r["prompt"] for r in load_prompts(p)] == ["a", "b"]


@pytest.mark.parametrize("name, content, expected", [
    ("p.json", "[1,", "line 1: invalid JSON"),
    ("p.json", '{"prompt": "a"}', "expected a JSON list"),
    ("p.jsonl", '{"prompt": "a"}\n{bad\n', "line 2: invalid JSON"),
    ("p.jsonl", '{"prompt": ""}\n', "line 1: empty or missing prompt"),
    ("p.csv", "text\na\n", "missing column prompt"),
    ("p.json", json.dumps([{"prompt": "a", "id": "1"}, {"prompt": "b", "id": "1"}]), "item 2: duplicate id '1'"),
    ("p.txt", "\n\n", "no prompts"),
])
def test_bad_prompt_files(tmp_path, name, content, expected):
    p = tmp_path / name
    p.write_text(content)
    assert expected in _err(p)


def test_non_utf8_prompt_file(tmp_path):
    p = tmp_path / "p.txt"
    p.write_bytes(b"ok\n\xff\xfe\n")
    assert "not UTF-8" in _err(p)
