"""`saferlhf reward export-onnx` on the tiny reward model: files, opset, dynamic axes, parity recorded and within
the bounds, and the ONNX graph scoring like PyTorch on batches of shapes it was not traced with."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_bundle_files_and_report(tiny_onnx_bundle):
    for name in ("model.onnx", "tokenizer.json", "reward_config.json", "export_report.json"):
        assert (tiny_onnx_bundle / name).is_file(), name
    report = json.loads((tiny_onnx_bundle / "export_report.json").read_text())
    assert report["passed"] is True
    assert report["fp32"]["max_abs_diff"] <= 1e-4
    rc = json.loads((tiny_onnx_bundle / "reward_config.json").read_text())
    assert rc["signals"] == ["safety", "toxicity", "hallucination_risk", "compliance"] and rc["max_length"] == 64
    int8 = report["int8"]
    assert int8["flops_per_item"]["total_gflop"] > int8["flops_per_item"]["weight_gflop"] > 0
    assert not any("heads" in n for n in int8["int8_nodes"])  # the regression heads always stay fp32
    if not int8["usable"]:
        # honest failure: no INT8 file, nothing claimed in INT8, and a reason the service can print
        assert not (tiny_onnx_bundle / "model.int8.onnx").exists()
        assert int8["int8_nodes"] == [] and int8["weight_flops_int8_share"] == 0 and int8["reason"]
        assert int8["int8_method"] == "blockwise"
        return
    assert int8["max_abs_diff"] <= 0.02
    assert report["n_rank_pairs"] > 0 and int8["rank_agreement"] >= 0.99
    # honest precision: at least 3/4 of the encoder's weight GEMMs in INT8, and the file holds exactly those
    assert int8["encoder_int8_share"] >= 0.75
    assert int8["encoder_int8_nodes"] == len(int8["int8_nodes"]) and 0.5 < int8["weight_flops_int8_share"] <= 1
    import onnx

    ops = [n.op_type for n in onnx.load(str(tiny_onnx_bundle / "model.int8.onnx")).graph.node]
    assert ops.count("MatMulNBits") == len(int8["int8_nodes"])  # the default method: blockwise, Q/K/V unfused
    assert int8["int8_method"] == "blockwise" and "blockwise" in int8["method"]
    assert not ops.count("MatMulInteger") and not ops.count("Attention")
    # both files timed on this CPU, the ratio is what `serve --precision auto` goes by
    speed = int8["speed"]
    assert speed["fp32_ms_per_item"] > 0 and speed["int8_ms_per_item"] > 0
    assert speed["int8_speedup"] == pytest.approx(speed["fp32_ms_per_item"] / speed["int8_ms_per_item"], rel=0.01)


def test_graph_has_dynamic_axes_and_opset(tiny_onnx_bundle):
    import onnx

    m = onnx.load(str(tiny_onnx_bundle / "model.onnx"), load_external_data=False)
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input}
    assert set(dims) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(isinstance(d[0], str) and isinstance(d[1], str) for d in dims.values())  # symbolic batch, sequence
    (out,) = m.graph.output
    assert out.name == "scores" and out.type.tensor_type.shape.dim[1].dim_value == 4


def test_onnx_matches_pytorch_on_new_shapes(tiny_onnx_bundle, tiny_reward_model):
    """Batch sizes and lengths never seen at trace time (1 and 5 items, up to truncation)."""
    from saferlhf.reward.model import RewardScorer
    from saferlhf.serve.scorer import OnnxScorer

    prompts = ["hi", "How do I pick a lock? " * 30, "Tell me a joke", "¿Qué tal?", ""]
    responses = ["hello", "No.", "Why did the chicken cross the road? " * 10, "Bien 😀", "ok"]
    ref = RewardScorer(tiny_reward_model).scores(prompts, responses)
    onnx = OnnxScorer(tiny_onnx_bundle / "model.onnx", tiny_onnx_bundle / "tokenizer.json", 64, chunk_size=5)
    np.testing.assert_allclose(onnx.scores(prompts, responses), ref, atol=1e-4)
    np.testing.assert_allclose(onnx.scores(prompts[:1], responses[:1]), ref[:1], atol=1e-4)
    # one-item runs spread over two threads at once: the same scores, each row in its place
    parallel = OnnxScorer(tiny_onnx_bundle / "model.onnx", tiny_onnx_bundle / "tokenizer.json", 64, threads=2,
                          parallel=2)
    assert parallel.parallel == 2 and parallel.session.get_session_options().intra_op_num_threads == 1
    np.testing.assert_allclose(parallel.scores(prompts, responses), ref, atol=1e-4)


def test_export_cli_rejects_missing_model(tmp_path, tiny_layout):
    from typer.testing import CliRunner

    from saferlhf.cli import app

    # the data exists (so the model is what is missing), whatever the working directory holds
    res = CliRunner().invoke(app, ["reward", "export-onnx", "--model-path", str(tmp_path / "nope"),
                                   "--data-path", str(tiny_layout.labels), "--output-dir", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert "not a saved reward model" in str(res.exception) + res.output


def test_smoothquant_is_exact_in_fp32_and_narrows_activation_ranges(tiny_onnx_bundle, tmp_path):
    """SmoothQuant rescales every MatMul input by 1/s and its weight rows by s: fp32 scores stay the same, and the
    per-channel activation maxima the INT8 quantizer sees become flatter (max/median shrinks)."""
    import onnx

    from saferlhf.serve.scorer import OnnxScorer
    from saferlhf.smoothquant import activation_maxima, smooth

    src, dst = tiny_onnx_bundle / "model.onnx", tmp_path / "smoothed.onnx"
    tok = tiny_onnx_bundle / "tokenizer.json"
    prompts = ["How do I stay safe online?", "Write an insult about my coworker", "Explain photosynthesis"]
    responses = ["Use strong passwords and updates.", "I can't help with that.", "Plants turn light into sugar."]
    enc = OnnxScorer(src, tok, 64)
    before = activation_maxima(src, enc.tokenizer, prompts, responses)
    n = smooth(src, dst, before, alpha=0.8)
    matmuls = [x for x in onnx.load(str(src)).graph.node if x.op_type == "MatMul"]
    assert 0 < n <= len(matmuls)
    np.testing.assert_allclose(OnnxScorer(dst, tok, 64).scores(prompts, responses), enc.scores(prompts, responses),
                               atol=1e-4)
    after = activation_maxima(dst, enc.tokenizer, prompts, responses)  # inputs of the smoothed nodes are now the Mul outputs
    spread = lambda m: float(np.median([v.max() / np.median(v) for v in m.values()]))  # noqa: E731
    assert spread(after) < spread(before)
