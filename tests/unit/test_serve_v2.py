"""KServe V2 tensor mapping and the request checks both APIs share."""

from __future__ import annotations

import numpy as np
import pytest

from saferlhf.serve import v2


def _t(name, data, shape=None, datatype="BYTES"):
    return {"name": name, "datatype": datatype, "shape": shape or [len(data)], "data": data}


def test_parse_flat_and_nested():
    p, r = v2.parse_inputs([_t("response", [["x"], ["y"]], [2, 1]), _t("prompt", ["a", "b"])])
    assert (p, r) == (["a", "b"], ["x", "y"])


@pytest.mark.parametrize("inputs, needle", [
    ([_t("prompt", ["a"])], "missing 'response'"),
    ([_t("prompt", ["a"]), _t("response", ["b"]), _t("extra", ["c"])], "unknown input"),
    ([_t("prompt", ["a"]), _t("prompt", ["a"])], "given twice"),
    ([_t("prompt", [1.0], datatype="FP32"), _t("response", ["b"])], "datatype must be BYTES"),
    ([_t("prompt", ["a"], [1, 1, 1]), _t("response", ["b"])], "shape must be"),
    ([_t("prompt", ["a", "b"], [3]), _t("response", ["b"])], "needs 3 elements"),
    ([_t("prompt", ["a"], [10**30]), _t("response", ["b"])], "needs 10000"),
    ([_t("prompt", [3]), _t("response", ["b"])], "must be JSON strings"),
    ([_t("prompt", ["a", "b"]), _t("response", ["b"])], "prompt has 2 elements but response has 1"),
])
def test_bad_tensors(inputs, needle):
    with pytest.raises(v2.RequestError, match=needle) as e:
        v2.parse_inputs(inputs)
    assert e.value.status == 400


def test_limits():
    with pytest.raises(v2.RequestError, match="empty batch"):
        v2.check_texts([], [], 4, 10)
    with pytest.raises(v2.RequestError) as e:
        v2.check_texts(["a"] * 5, ["b"] * 5, 4, 10)
    assert e.value.status == 413
    with pytest.raises(v2.RequestError) as e:
        v2.check_texts(["a"], ["b" * 11], 4, 10)
    assert e.value.status == 413 and "items[0].response" in str(e.value)
    with pytest.raises(v2.RequestError, match="lone surrogate"):
        v2.check_texts(["\ud800"], ["b"], 4, 10)


def test_outputs():
    scores = np.arange(8, dtype=np.float32).reshape(2, 4)
    out, blobs = v2.encode_outputs(scores, np.array([1.5, 2.5]), v2.requested_outputs(None))
    assert out[0] == {"name": "scores", "datatype": "FP32", "shape": [2, 4], "data": list(map(float, range(8)))}
    assert out[1]["shape"] == [2] and out[1]["data"] == [1.5, 2.5] and blobs == []
    assert v2.requested_outputs([{"name": "reward"}]) == [("reward", False)]
    with pytest.raises(v2.RequestError, match="unknown output"):
        v2.requested_outputs([{"name": "logits"}])


def test_binary_output_plan():
    """binary_data_output sets the default, a per-output binary_data overrides it (binary tensor extension)."""
    assert v2.requested_outputs(None, {"binary_data_output": True}) == [("scores", True), ("reward", True)]
    plan = v2.requested_outputs([{"name": "scores", "parameters": {"binary_data": False}}, {"name": "reward"}],
                                {"binary_data_output": True})
    assert plan == [("scores", False), ("reward", True)]
    scores = np.arange(8, dtype=np.float32).reshape(2, 4)
    out, blobs = v2.encode_outputs(scores, np.array([1.5, 2.5]), plan)
    assert "data" in out[0] and out[1] == {"name": "reward", "datatype": "FP32", "shape": [2],
                                           "parameters": {"binary_data_size": 8}}
    np.testing.assert_array_equal(blobs[0], [1.5, 2.5])


@pytest.mark.parametrize("outputs, params, needle", [
    (None, {"binary_data_output": "yes"}, "parameters.binary_data_output: must be true or false"),
    ([{"name": "reward", "parameters": {"binary_data": 1}}], None, r"outputs\[0\].parameters.binary_data"),
    ([{"name": "reward", "parameters": {"classification": 2}}], None, "classification: not supported"),
])
def test_bad_output_parameters(outputs, params, needle):
    with pytest.raises(v2.RequestError, match=needle):
        v2.requested_outputs(outputs, params)
