"""Long loops outside a terminal report progress as log lines (a KFP step's log has no tty)."""

from __future__ import annotations

import logging

from saferlhf.progress import LogProgress, progress


def test_log_progress_writes_about_every_tenth_and_the_end(caplog):
    caplog.set_level(logging.INFO, logger="saferlhf.progress")
    bar = LogProgress(45, "policy LM")
    for _ in range(45):
        bar.set_postfix(loss=0.5)
        bar.update(1)
    lines = [r.getMessage() for r in caplog.records]
    assert 9 <= len(lines) <= 11  # ~every 10%, plus the last step
    assert lines[0].startswith("policy LM: 5/45 steps (11%)")
    assert lines[-1].startswith("policy LM: 45/45 steps (100%)") and "left" not in lines[-1]
    assert "left" in lines[0] and "[loss=0.5]" in lines[0]


def test_no_terminal_means_log_lines(capsys):
    assert isinstance(progress(3, "x"), LogProgress)  # pytest's captured stderr is not a tty


def test_tiny_totals_log_every_step(caplog):
    caplog.set_level(logging.INFO, logger="saferlhf.progress")
    bar = LogProgress(3, "generate", unit="batches")
    for _ in range(3):
        bar.update(1)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "generate: 1/3 batches", "generate: 2/3 batches", "generate: 3/3 batches"]
