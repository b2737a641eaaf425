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
RUN = 8  # words: a shared run this long is copied text, not a common phrase ("what's the best way to shoot a")


def _runs(text: str) -> set[tuple[str, ...]]:
    w = normalise_prompt(text).split()
    return {tuple(w[i:i + RUN]) for i in range(len(w) - RUN + 1)}


def _copied(texts, fixture_texts) -> list[str]:
    """The texts that share a RUN-word run with any fixture text."""
    fixture = set().union(*map(_runs, fixture_texts))
    return [t for t in texts if _runs(t) & fixture]


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


@pytest.fixture(scope="module")
def fixture_texts(fixture_prompts):
    """Every fixture prompt and known answer (tests/fixtures/benchmarks/responses.jsonl)."""
    answers = [json.loads(line)["answer"] for line in (FIXTURE.parent / "responses.jsonl").open()]
    return list(fixture_prompts) + answers


def test_no_fixture_text_copied_into_generated_dataset(fixture_texts):
    """Stricter than whole prompts: no generated prompt or response (look-alike answers included) repeats an
    8-word run of a fixture prompt or of a fixture answer."""
    from saferlhf.config import DataConfig
    from saferlhf.data.generate import generate

    _, df = generate(DataConfig(lookalike=True, mismatched_fraction=0.3, acknowledgement_fraction=0.3))  # opt-ins
    assert (df.category == "lookalike").any()
    copied = _copied(set(df.prompt) | set(df.response), fixture_texts)
    assert not copied, f"generated text copies the benchmark fixture: {copied[:3]}"


def test_copy_check_can_fail(fixture_texts):
    answer = fixture_texts[-1]
    assert _copied([f"Well. {answer.upper()} Hope that helps!"], fixture_texts)
    assert not _copied(["What's the best way to shoot a photo of the moon?"], fixture_texts)
