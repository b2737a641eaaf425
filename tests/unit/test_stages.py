"""The stage table is the one place a stage is defined: every other table that names stages is derived from it or
agrees with it. Adding a stage in one place only fails here."""

from __future__ import annotations

import ast
import inspect
import re
import typing
from pathlib import Path

import pytest

from saferlhf import dashboard_data, results, stages
from saferlhf.artifacts import Layout
from saferlhf.config import Config
from saferlhf.pipeline.publish import PUBLISH
from saferlhf.stages import STAGE, STAGES, pipeline_stages
from tests.conftest import REPO


def test_every_stage_is_wired_to_a_section_a_run_function_and_a_result():
    for s in STAGES:
        cls = Config.model_fields[s.section].annotation
        fn = s.run_fn()
        hints = typing.get_type_hints(fn)
        assert hints[next(iter(inspect.signature(fn).parameters))] is cls, s.name
        assert issubclass(s.result_model(), results.StageResult), s.name
        assert hints["return"] is s.result_model(), f"{s.run} must return {s.result}"
        for place in s.inputs + s.outputs:
            assert isinstance(getattr(Layout(), place), Path), (s.name, place)
        assert s.report_path(Layout()).is_relative_to(Layout().root), s.name


def test_stage_names_are_unique_and_upstream_stages_come_first():
    assert len({s.name for s in STAGES}) == len(STAGES)
    assert len({s.command for s in STAGES}) == len(STAGES)
    order = [s.name for s in STAGES]
    for s in STAGES:
        assert all(order.index(u) < order.index(s.name) for u in stages.upstream(s)), s.name


def test_cli_has_one_command_per_stage_at_its_words():
    from saferlhf.cli import app
    from typer.main import get_command

    root = get_command(app)
    for s in STAGES:
        group = root
        for word in s.command[:-1]:
            group = group.commands[word]
        assert s.command[-1] in group.commands, s.cli


def test_dashboard_graph_is_the_stage_table():
    assert [d.key for d in dashboard_data.STAGES] == [s.name for s in STAGES]
    assert {d.key: d.upstream for d in dashboard_data.STAGES} == {s.name: stages.upstream(s) for s in STAGES}


def test_publish_covers_every_pipeline_output():
    placed = set(PUBLISH.values())
    assert {p for s in pipeline_stages() for p in s.outputs} <= placed


def test_resolve_config_component_returns_one_payload_per_pipeline_section():
    """The KFP component's NamedTuple (it must be written out: kfp reads the function's source) lists exactly
    the sections of the pipeline's stages."""
    tree = ast.parse((REPO / "components" / "config.py").read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "resolve_config")
    names = [e.elts[0].value for e in fn.returns.args[1].elts]
    body_names = next(ast.literal_eval(n.value) for n in ast.walk(fn)
                      if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "names")
    wanted = [s.section for s in pipeline_stages()]
    assert names == body_names == wanted


def test_makefile_demo_stages_run_the_pipeline_stages_in_order():
    make = (REPO / "Makefile").read_text()
    block = make.split("demo-stages: $(STAMP)")[1].split("\n\n")[0]
    cmds = [line.split("$(CONFIG) ", 1)[1] for line in block.splitlines() if "$(BIN)/saferlhf" in line]
    assert ["saferlhf " + c for c in cmds] == stages.demo_commands()


@pytest.mark.parametrize("stage", [s.name for s in STAGES])
def test_old_or_broken_reports_load_or_fail_in_one_line(tmp_path, stage):
    from saferlhf.errors import UserError

    model = STAGE[stage].result_model()
    bad = tmp_path / "r.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match=re.escape(str(bad))):
        model.load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(UserError, match="JSON object"):
        model.load(bad)
