"""The experiment configs (conf/experiment/): each composes, sweeps the paper's grid into a
directory named after it, and its variants change what they say (cpu_demo itself runs in CI:
`make demo`; first_run, one job, is `make run`)."""

import itertools
import subprocess

import pytest
from conftest import ROOT, harness_cmd
from hydra import compose, initialize_config_dir

from harness.extensions import load_config, register_all
from harness.generation.backends.auto import Facts, choose_backend

CONF = ROOT / "conf"
SINGLE_JOBS = {"first_run"}  # a single run's config, not a sweep
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml") if p.stem not in SINGLE_JOBS)
PAPER_MODELS = "llama_1b,llama_3b,mamba_hybrid_1b,mamba_hybrid,llamba_1b,llamba_3b"
# What each model's checkpoint says it is (the fact model.backend=auto decides on).
ARCHITECTURES = {"llama_1b": "llama", "llama_3b": "llama", "mamba_hybrid_1b": "mamba_in_llama",
                 "mamba_hybrid": "mamba_in_llama", "llamba_1b": "llamba", "llamba_3b": "llamba"}
register_all()


def _compose(*overrides: str, hydra: bool = True):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra)


def _sweep(experiment: str) -> dict[str, list[str]]:
    params = _compose(f"+experiment={experiment}").hydra.sweeper.params
    return {key: str(value).split(",") for key, value in params.items()}


def _jobs(experiment: str):
    """Every job of the experiment's sweep, composed and converted as the job would be."""
    sweep = _sweep(experiment)
    for values in itertools.product(*sweep.values()):
        overrides = [f"{key}={value}" for key, value in zip(sweep, values)]
        yield load_config(_compose(f"+experiment={experiment}", *overrides, hydra=False))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_job_of_every_experiment_composes_into_its_named_sweep_directory(experiment):
    assert _compose(f"+experiment={experiment}").hydra.sweep.dir == f"results/{experiment}"
    models = {p.stem for p in (CONF / "model").glob("*.yaml")}
    jobs = list(_jobs(experiment))
    assert len(jobs) >= 2 and {job.model.name for job in jobs} <= models


@pytest.mark.parametrize("experiment, dataset", [(f"paper_{d}{v}", d) for d in ("gsm8k", "math500")
                                                 for v in ("", "_prm", "_same_engine")])
def test_the_paper_experiments_sweep_its_grid_over_whole_test_sets(experiment, dataset):
    sweep = _sweep(experiment)
    assert ",".join(sweep["model"]) == PAPER_MODELS and len(sweep["budget"]) >= 2
    for job in _jobs(experiment):
        assert job.data.name == dataset and job.data.limit is None
        rm = "rm_weighted" in job.selection.methods and "best_of_n" in job.selection.methods
        assert rm == experiment.endswith("_prm") and (not rm or job.selection.reward.model)
        arch = ARCHITECTURES[job.model.name]
        teacher = arch == "llama"
        facts = Facts(cuda=True, architecture=arch, installed=frozenset({"vllm"}))
        backend = choose_backend(str(job.model.backend), facts).backend
        if experiment.endswith("_same_engine"):  # every model on the slot engine
            assert str(job.model.backend) == "slot" and backend == ("engine" if teacher else arch)
        else:  # each on its best engine: the students' own is the slot engine
            assert backend == ("vllm" if teacher else arch)


def test_the_8b_pair_sweeps_the_teacher_and_its_llamba_student_on_both_datasets():
    sweep = _sweep("pair_8b")
    assert sweep["model"] == ["llama_8b", "llamba_8b"] and set(sweep["data"]) == {"math500", "gsm8k"}
    jobs = list(_jobs("pair_8b"))
    assert len(jobs) == 2 * 2 * len(sweep["budget"]) and all(job.data.limit is None for job in jobs)
    paths = {job.model.name: (job.model.path, job.model.tokenizer) for job in jobs}
    assert paths == {"llama_8b": ("meta-llama/Llama-3.1-8B-Instruct", None),
                     "llamba_8b": ("cartesia-ai/Llamba-8B", "meta-llama/Llama-3.1-8B-Instruct")}


def test_the_paper_models_sweep_the_competition_sets_whole():
    sweep = _sweep("paper_aime_amc")
    assert ",".join(sweep["model"]) == PAPER_MODELS and sweep["data"] == ["aime24", "aime25", "amc23"]
    jobs = list(_jobs("paper_aime_amc"))
    assert len(jobs) == 6 * 3 * len(sweep["budget"]) and len(sweep["budget"]) >= 2
    assert all(job.data.limit is None and job.data.max_new_tokens == 4096 for job in jobs)


def test_the_cpu_demo_runs_one_real_model_at_two_speeds_offline():
    jobs = list(_jobs("cpu_demo"))
    assert sorted(str(job.model.dtype) for job in jobs) == ["bfloat16", "float32"]
    for job in jobs:
        assert (job.model.name, job.model.path, job.model.backend, job.model.device) == ("smollm2", "builtin:smollm2",
                                                                                         "hf", "cpu")
        assert job.data.name == "arith" and job.data.limit and job.runner.threads == 1
        assert job.selection.methods == ["coverage", "majority"] and "boxed" in job.prompt.user


def test_the_first_run_is_one_job_of_smollm2_on_arithmetic_and_plain_runs_keep_gsm8k():
    assert not _compose("+experiment=first_run").hydra.sweeper.get("params")  # a single run, no sweep
    job = load_config(_compose("+experiment=first_run", hydra=False))
    assert (job.model.name, job.data.name, job.budget, job.runner.threads) == ("smollm2", "arith", "20s", 1)
    assert job.data.limit and job.runner.concurrency and job.prompt.user.startswith("{problem}")
    for overrides in ((), ("model=llama_3b",)):  # what python -m harness means for a real model is unchanged
        assert load_config(_compose(*overrides, hydra=False)).data.name == "gsm8k"


def test_cfg_hydra_lists_the_model_sweep():
    proc = subprocess.run(harness_cmd("+experiment=paper_math500", "--cfg", "hydra"), cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert f"model: {PAPER_MODELS}" in lines and "budget: 10s,30s,60s" in lines
    assert "experiment: paper_math500" in lines  # what names the sweep directory
