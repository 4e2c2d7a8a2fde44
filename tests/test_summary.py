"""The closing summary of a run (harness.analysis.summary) on hand-made run directories."""

from __future__ import annotations

from pathlib import Path

from report_helpers import make_run, sample

from harness.analysis.summary import format_summary, summarize_run

P2 = ["gsm8k/test/0", "gsm8k/test/1"]


def test_summary_has_the_answer_rate_and_the_share_cut_by_max_new_tokens(tmp_path: Path) -> None:
    samples = [sample(P2[0], 1.0, True, "5"), sample(P2[0], 2.0, False, None, finish="length"),
               sample(P2[1], 1.5, False, "4"), sample(P2[1], 3.0, False, None, finish="length")]
    summary = summarize_run(make_run(tmp_path, "a", "tiny_llama", "hf", samples, P2))
    assert summary["answer_rate"] == 0.5 and summary["truncated_rate"] == 0.5
    assert summary["coverage"] == 0.5
    assert "truncated_rate=0.5  answer_rate=0.5" in format_summary(summary)


def test_an_ungraded_run_has_no_answer_rate_yet(tmp_path: Path) -> None:
    # pred is null until a sample is graded, so an answer rate would read as "no answers".
    samples = [sample(P2[0], 1.0, None, None, finish="length"), sample(P2[1], 1.0, None, None)]
    summary = summarize_run(make_run(tmp_path, "a", "tiny_llama", "hf", samples, P2))
    assert summary["truncated_rate"] == 0.5 and "answer_rate" not in summary and "coverage" not in summary


def test_a_run_without_samples_has_no_rates(tmp_path: Path) -> None:
    summary = summarize_run(make_run(tmp_path, "a", "tiny_llama", "hf", [], P2))
    assert summary["samples"] == 0 and "truncated_rate" not in summary and "answer_rate" not in summary
