"""The device claim (harness/generation/devices.py): under SLURM a job takes what the scheduler assigned."""

import os

import pytest

from harness.generation.devices import claim_device, slurm_devices


@pytest.fixture
def slurm_job(monkeypatch):
    """This process as a SLURM job, with no GPU variables yet (tests add what slurmd would set)."""
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_GPUS_ON_NODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    return monkeypatch


@pytest.mark.parametrize("environ, expected", [
    ({"CUDA_VISIBLE_DEVICES": "1"}, ["1"]),
    ({"CUDA_VISIBLE_DEVICES": "2,3", "SLURM_JOB_GPUS": "2,3"}, ["2", "3"]),
    ({"CUDA_VISIBLE_DEVICES": ""}, []),
    ({}, []),  # no GPU asked for
    ({"SLURM_JOB_GPUS": "0"}, None),  # allocated, but slurmd could not name the device
    ({"SLURM_GPUS_ON_NODE": "1"}, None),
])
def test_slurm_devices_reads_what_slurmd_set(environ, expected):
    assert slurm_devices({"SLURM_JOB_ID": "42", **environ}) == expected


def test_a_slurm_job_takes_its_assigned_gpu_without_locking_or_narrowing(slurm_job, tmp_path):
    slurm_job.setenv("CUDA_VISIBLE_DEVICES", "1")
    slurm_job.setenv("SLURM_JOB_GPUS", "1")
    with claim_device(tmp_path / "locks") as device, claim_device(tmp_path / "locks") as again:
        # A second claim does not wait: SLURM, not a lock file, keeps jobs apart.
        assert device == again == "1" and os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert not (tmp_path / "locks").exists() and os.environ["CUDA_VISIBLE_DEVICES"] == "1"


def test_a_slurm_job_without_a_gpu_hides_every_gpu(slurm_job, tmp_path):
    with claim_device(tmp_path / "locks") as device:
        assert device == "cpu" and os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert "CUDA_VISIBLE_DEVICES" not in os.environ and not (tmp_path / "locks").exists()


def test_outside_slurm_a_job_locks_one_device_and_narrows_to_it(monkeypatch, tmp_path):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with claim_device(tmp_path / "locks") as device:
        assert device == "0" and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        assert [p.name.split("-")[-1] for p in (tmp_path / "locks").iterdir()] == ["0.lock"]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
