"""Model source resolution: local bundle folders, and MLflow registry URIs verified by the `onnx_sha256` tag
(against a real SQLite-backed MLflow registry in a temp folder)."""

from __future__ import annotations

import json

import pytest

from saferlhf.errors import UserError
from saferlhf.serve.bundle import (FP32_SHA_TAG, MANIFEST_TAG, SHA_TAG, check_export, file_sha256, find_bundle_dir,
                                   load_bundle, resolve_model, verify_sha256, write_manifest)


@pytest.fixture
def bundle(tmp_path):
    d = tmp_path / "reward_model" / "onnx"
    d.mkdir(parents=True)
    (d / "model.onnx").write_bytes(b"fp32 graph")
    (d / "model.int8.onnx").write_bytes(b"int8 graph")
    (d / "tokenizer.json").write_text("{}")
    (d / "reward_config.json").write_text(json.dumps({"max_length": 96, "weights": [1, 1, 1, 0.25]}))
    return d


def test_local_folder_resolution(bundle):
    (bundle.parent / "plots").mkdir()
    b = resolve_model(str(bundle.parent))  # the reward model folder finds its onnx/
    assert b.folder == bundle and b.onnx_path.name == "model.int8.onnx" and b.precision == "int8"
    assert b.max_length == 96 and b.weights == (1.0, 1.0, 1.0, 0.25) and b.version.startswith("sha256:")
    assert resolve_model(str(bundle), precision="fp32").onnx_path.name == "model.onnx"
    (bundle / "model.int8.onnx").unlink()
    assert resolve_model(str(bundle)).precision == "fp32"  # auto falls back
    with pytest.raises(UserError, match="no model.int8.onnx"):
        resolve_model(str(bundle), precision="int8")
    with pytest.raises(UserError, match="model not found"):
        resolve_model(str(bundle / "nope"))
    with pytest.raises(UserError, match="no ONNX model bundle"):
        find_bundle_dir(bundle.parent / "plots")



def test_auto_serves_fp32_with_one_warning_when_int8_failed(bundle, caplog):
    """The export reported INT8 unusable and wrote no INT8 file: auto serves fp32 and says why once; asking for
    int8 explicitly is a clear error naming the reason."""
    (bundle / "model.int8.onnx").unlink()
    reason = "calibration max |delta| 0.0300 > 0.0150 with 6 of 24 nodes in fp32 (at most 6 may be)"
    (bundle / "export_report.json").write_text(json.dumps({"int8": {"passed": False, "usable": False,
                                                                    "reason": reason}}))
    write_manifest(bundle)  # a sealed export: the only thing to warn about is INT8
    with caplog.at_level("WARNING", logger="saferlhf.serve.bundle"):
        assert resolve_model(str(bundle)).precision == "fp32"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and reason in warnings[0] and "serving fp32" in warnings[0]
    with pytest.raises(UserError, match="INT8 export failed"):
        resolve_model(str(bundle), precision="int8")
    caplog.clear()
    with caplog.at_level("WARNING", logger="saferlhf.serve.bundle"):  # fp32 asked for: nothing to warn about
        assert resolve_model(str(bundle), precision="fp32").precision == "fp32"
    assert not caplog.records

def test_auto_serves_fp32_when_the_export_measured_int8_slower(bundle, caplog):
    """On a CPU without int8 dot products (AVX2 only) INT8 can be accurate and still slower than fp32: the export
    times both, and auto then serves fp32 with one line; --precision int8 still serves INT8."""
    speed = {"fp32_ms_per_item": 17.3, "int8_ms_per_item": 29.4, "int8_speedup": 0.588, "cpu_int8_instructions": ""}
    (bundle / "export_report.json").write_text(json.dumps({"int8": {"passed": True, "usable": True,
                                                                    "speed": speed}}))
    write_manifest(bundle)
    with caplog.at_level("WARNING", logger="saferlhf.serve.bundle"):
        assert resolve_model(str(bundle)).precision == "fp32"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "0.59x fp32 speed" in warnings[0] and "no VNNI" in warnings[0]
    assert resolve_model(str(bundle), precision="int8").precision == "int8"
    speed["int8_speedup"] = 1.8  # faster where it was exported: auto serves it, silently
    (bundle / "export_report.json").write_text(json.dumps({"int8": {"passed": True, "usable": True,
                                                                    "speed": speed}}))
    write_manifest(bundle)
    caplog.clear()
    with caplog.at_level("WARNING", logger="saferlhf.serve.bundle"):
        assert resolve_model(str(bundle)).precision == "int8"
    assert not caplog.records


def test_wrong_sha256_is_refused(bundle):
    f = bundle / "model.onnx"
    assert verify_sha256(f, file_sha256(f).upper()) == file_sha256(f)
    with pytest.raises(UserError, match="does not match the registry tag"):
        verify_sha256(f, "0" * 64)


@pytest.mark.parametrize("tampered", ["tokenizer.json", "reward_config.json", "reference_scores.parquet",
                                      "model.onnx"])
def test_manifest_covers_every_served_file(bundle, tampered):
    (bundle / "reference_scores.parquet").write_bytes(b"reference")
    files = write_manifest(bundle)
    assert set(files) == {"model.onnx", "model.int8.onnx", "tokenizer.json", "reward_config.json",
                          "reference_scores.parquet"}
    assert load_bundle(bundle).sha256 == files["model.int8.onnx"]
    (bundle / tampered).write_bytes(b"changed after the export")
    with pytest.raises(UserError, match=f"{tampered}: sha256 differs from manifest.json"):
        load_bundle(bundle, precision="fp32")


def test_registry_tags_verify_the_manifest_or_the_served_file(bundle):
    write_manifest(bundle)
    good = {MANIFEST_TAG: file_sha256(bundle / "manifest.json")}
    assert load_bundle(bundle, "fp32", "v1", good).precision == "fp32"
    with pytest.raises(UserError, match="does not match the registry tag manifest_sha256"):
        load_bundle(bundle, "auto", "v1", {MANIFEST_TAG: "0" * 64})
    (bundle / "manifest.json").unlink()  # a version registered before manifests: per-file tags
    old = {SHA_TAG: file_sha256(bundle / "model.int8.onnx"), "onnx_file": "model.int8.onnx",
           FP32_SHA_TAG: file_sha256(bundle / "model.onnx")}
    assert load_bundle(bundle, "fp32", "v1", old).precision == "fp32"  # used to fail: the tag hashed INT8
    assert load_bundle(bundle, "int8", "v1", old).precision == "int8"
    with pytest.raises(UserError, match="no sha256 tag for this file"):
        load_bundle(bundle, "fp32", "v1", {k: v for k, v in old.items() if k != FP32_SHA_TAG})


def test_registration_requires_a_passing_export_whose_hashes_match(bundle):
    with pytest.raises(UserError, match="export_report.json: missing"):
        check_export(bundle)
    report = {"passed": False, "fp32": {"passed": True}, "int8": {"passed": False, "max_abs_diff": 0.31,
                                                                  "tolerance": 0.02}}
    (bundle / "export_report.json").write_text(json.dumps(report))
    with pytest.raises(UserError, match=r"failed its parity check: int8 \(max abs diff 0.31, tolerance 0.02\)"):
        check_export(bundle)
    files = write_manifest(bundle)
    (bundle / "export_report.json").write_text(json.dumps({"passed": True, "manifest": files}))
    assert check_export(bundle) == files
    (bundle / "model.int8.onnx").write_bytes(b"a stale file from another export")
    with pytest.raises(UserError, match="sha256 differs"):
        check_export(bundle)
    write_manifest(bundle)  # a manifest rewritten by hand no longer matches the report
    with pytest.raises(UserError, match="differs from export_report.json"):
        check_export(bundle)


@pytest.mark.slow
def test_mlflow_uri_downloads_once_and_checks_the_tag(bundle, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    client.create_registered_model("scorer")
    good = client.create_model_version("scorer", source=str(bundle)).version
    client.set_model_version_tag("scorer", good, SHA_TAG, file_sha256(bundle / "model.int8.onnx"))
    client.set_registered_model_alias("scorer", "champion", good)
    bad = client.create_model_version("scorer", source=str(bundle)).version
    client.set_model_version_tag("scorer", bad, SHA_TAG, "f" * 64)
    untagged = client.create_model_version("scorer", source=str(bundle)).version

    b = resolve_model("models:/scorer@champion", cache_dir=tmp_path / "cache")
    assert b.version == f"scorer/{good}" and b.folder.is_relative_to(tmp_path / "cache")
    assert resolve_model(f"models:/scorer/{good}", cache_dir=tmp_path / "cache").folder == b.folder  # cached
    with pytest.raises(UserError, match="does not match the registry tag"):
        resolve_model(f"models:/scorer/{bad}", cache_dir=tmp_path / "cache")
    with pytest.raises(UserError, match="no manifest_sha256 or onnx_sha256 tag"):
        resolve_model(f"models:/scorer/{untagged}", cache_dir=tmp_path / "cache")
    with pytest.raises(UserError, match="models:/nosuch@champion"):
        resolve_model("models:/nosuch@champion", cache_dir=tmp_path / "cache")
    with pytest.raises(UserError, match="unsupported model URI"):
        resolve_model("models:/a/b/c")
