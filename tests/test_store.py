import json
import os

import pytest

from harness.jsonl import JsonlError
from harness.store import ProblemRecord, RunStore, StoreError, TrajectoryRecord, read_jsonl, read_run


def sample(pid, idx):
    return TrajectoryRecord(pid, idx, "x", 1, "stop", 0.1)


def problem(pid):
    return ProblemRecord(pid, 1.0, 2, 0, 2, 2, 1.0)


CONFIG = {"model": {"name": "m"}, "budget": "1s", "data": {"limit": 3}, "run": {"resume": None}}


def test_resume_keeps_finished_problems_and_drops_partial_ones(tmp_path):
    store = RunStore(tmp_path, CONFIG)
    store.update_meta(status="running")
    for i in range(2):
        store.append_trajectory(sample("a", i))
    store.finish_problem(problem("a"))
    store.append_trajectory(sample("b", 0))  # killed before b finished
    store.close()
    with (tmp_path / "trajectories.jsonl").open("a") as fh:
        fh.write('{"problem_id": "b", "sample_')  # torn write

    resumed = RunStore(tmp_path, {**CONFIG, "data": {"limit": 5}, "run": {"resume": str(tmp_path)}})
    assert resumed.resumed and resumed.done == {"a"}
    assert [(t["problem_id"], t["sample_idx"]) for t in read_jsonl(tmp_path / "trajectories.jsonl")] == [("a", 0), ("a", 1)]
    resumed.close()


def test_resume_refuses_a_different_experiment(tmp_path):
    RunStore(tmp_path, CONFIG).update_meta(status="running")
    with pytest.raises(StoreError, match="budget"):
        RunStore(tmp_path, {**CONFIG, "budget": "2s"})


def test_corrupt_line_in_the_middle_names_file_and_line(tmp_path):
    path = tmp_path / "problems.jsonl"
    path.write_text(json.dumps(vars(problem("a"))) + "\n{oops\n" + json.dumps(vars(problem("b"))) + "\n")
    with pytest.raises(JsonlError, match=r"problems.jsonl:2"):
        read_jsonl(path)


def test_read_run_returns_only_finished_problems(tmp_path):
    store = RunStore(tmp_path, CONFIG)
    store.update_meta(status="done")
    store.append_trajectory(sample("a", 0))
    store.finish_problem(problem("a"))
    store.append_trajectory(sample("b", 0))
    store.close()
    meta, problems, trajectories = read_run(tmp_path)
    assert meta["status"] == "done" and list(problems.problem_id) == ["a"] and list(trajectories.problem_id) == ["a"]
    assert trajectories.correct.isna().all()


def test_discard_problem_removes_only_that_problem(tmp_path):
    store = RunStore(tmp_path, CONFIG)
    store.append_trajectory(sample("a", 0))
    store.append_trajectory(sample("b", 0))
    store.discard_problem("b")
    store.append_trajectory(sample("b", 0))
    store.close()
    assert [t["problem_id"] for t in read_jsonl(tmp_path / "trajectories.jsonl")] == ["a", "b"]


def test_a_problems_samples_are_synced_once_before_its_line(tmp_path, monkeypatch):
    store = RunStore(tmp_path, CONFIG)
    synced = []

    def fsync(fd):  # which file, and how many problem lines it held when synced
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        synced.append((name, len(read_jsonl(tmp_path / "problems.jsonl"))))

    monkeypatch.setattr(os, "fsync", fsync)
    for i in range(3):
        store.append_trajectory(sample("a", i))
    store.finish_problem(problem("a"))
    store.close()
    assert synced == [("trajectories.jsonl", 0), ("problems.jsonl", 1)]
