"""Held-out honesty: no prompt of the benchmark fixture (normalised) appears in the generated dataset, for the
demo and full configs' data sections, so the benchmark figures measure prompts that never reached reward or RL
training."""

import json

import pytest

from saferlhf.artifacts import Layout
from saferlhf.benchmarks.loaders import normalise_prompt
from saferlhf.benchmarks.run import load_benchmarks, training_prompts
from saferlhf.config import load_config
from saferlhf.data.loader import load_labels
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "benchmarks" / "benchmarks.yaml"


@pytest.fixture(scope="module")
def fixture_prompts():
    """Normalised prompt -> 'benchmark:id' for every fixture prompt."""
    cfg = load_config(FIXTURE).benchmark
    # the fixture's paths are relative to the repository root
    cfg = cfg.model_copy(update={"files": tuple(f.model_copy(update={"path": str(REPO / f.path)}) for f in cfg.files)})
    benchmarks = load_benchmarks(cfg)
    return {normalise_prompt(i.prompt): f"{b.name}:{i.id}" for b in benchmarks for i in b.items}


def test_fixture_covers_every_format_and_both_behaviours(fixture_prompts):
    cfg = load_config(FIXTURE).benchmark
    assert {f.format for f in cfg.files} >= {"harmbench", "advbench", "jailbreakbench", "strongreject",
                                             "donotanswer", "xstest", "orbench"}
    assert len(fixture_prompts) >= 70  # distinct after normalisation


@pytest.mark.parametrize("config", ["configs/demo.yaml", "configs/full.yaml"])
def test_no_benchmark_prompt_in_generated_dataset(tmp_path, fixture_prompts, config):
    from saferlhf.data import run_generate

    layout = Layout(tmp_path)
    run_generate(load_config(REPO / config).data, layout)
    seen = training_prompts(layout) | {normalise_prompt(p) for p in load_labels(layout.labels)["prompt"]}
    assert len(seen) > 100  # the check read a real dataset
    leaked = sorted(v for k, v in fixture_prompts.items() if k in seen)
    assert not leaked, f"benchmark prompts found in the generated dataset: {leaked}"


def test_training_prompts_detects_a_leak(tmp_path, fixture_prompts):
    """The check can fail: a dataset that contains a benchmark prompt (re-cased, re-punctuated) is caught."""
    layout = Layout(tmp_path)
    layout.data_dir.mkdir(parents=True)
    some = next(iter(fixture_prompts))
    layout.prompts.write_text(json.dumps([{"id": "p0", "prompt": some.upper() + " !!", "category": "benign"}]))
    assert some in training_prompts(layout)
