"""Reward models on tiny random Llamas built here (no download), and the scoring CLI."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from harness import reward as rw  # noqa: E402
from harness.reward.__main__ import main as reward_cli  # noqa: E402
from harness.store import ProblemRecord, TrajectoryRecord, read_jsonl  # noqa: E402

TEMPLATE = (  # Llama-3's chat template, reduced to what these conversations need
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
PROBLEM = "What is 2 + 3 * 4?"
SOLUTIONS = [
    "First, 3 * 4 = 12.\n\nThen 2 + 12 = 14.\n\nThe answer is $\\boxed{14}$.",
    "2 + 3 = 5 and 5 * 4 = 20.\n  \nSo $\\boxed{20}$.",
    "The answer is 14.",
]


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator([PROBLEM, *SOLUTIONS, "user assistant + -"] * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                   pad_token="<|end_of_text|>", chat_template=TEMPLATE)


def _config(tokenizer, **extra):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                       pad_token_id=tokenizer.pad_token_id, **extra)


@pytest.fixture(scope="module")
def prm(tokenizer):
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(_config(tokenizer)).eval()


def test_split_steps() -> None:
    assert rw.split_steps("a\n\nb\n \n\nc\nd") == ["a", "b", "c\nd"]
    assert rw.split_steps("") == [""]


def test_aggregation_on_hand_made_step_scores() -> None:
    steps = [0.9, 0.5, 0.8]
    assert rw.aggregate(steps, "last") == 0.8
    assert rw.aggregate(steps, "min") == 0.5
    assert rw.aggregate(steps, "prod") == pytest.approx(0.36)
    assert rw.aggregate(steps, "mean") == pytest.approx(2.2 / 3)
    with pytest.raises(ValueError, match="aggregation"):
        rw.aggregate(steps, "max")


def rlhflow_reference(model, tokenizer, question: str, text: str) -> list[float]:
    """The RLHFlow model card's loop: one forward per prefix, "+" predicted at position -3."""
    plus, minus = tokenizer.encode("+")[-1], tokenizer.encode("-")[-1]
    conversation, scores = [], []
    for k, step in enumerate(rw.split_steps(text)):
        conversation.append({"content": question + " " + step if k == 0 else step, "role": "user"})
        conversation.append({"content": "+", "role": "assistant"})
        ids = tokenizer(tokenizer.apply_chat_template(conversation, tokenize=False),
                        add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            logits = model(ids).logits[:, -3, [plus, minus]]
        scores.append(logits.softmax(dim=-1)[0, 0].item())
    return scores


def test_prm_step_scores_follow_the_rlhflow_convention(prm, tokenizer) -> None:
    model = rw.ProcessRewardModel(prm, tokenizer, batch_size=2, aggregation="min")
    got = model.step_scores(SOLUTIONS, [PROBLEM] * 3)
    assert [len(s) for s in got] == [3, 2, 1]
    for text, scores in zip(SOLUTIONS, got):
        assert scores == pytest.approx(rlhflow_reference(prm, tokenizer, PROBLEM, text), abs=1e-5)
    scored = model.score(SOLUTIONS, [PROBLEM] * 3)
    assert [r for r, _ in scored] == pytest.approx([min(s) for s in got], abs=1e-6)
    assert all(s > 0 for _, s in scored)
    # Batching (with padding) does not change scores.
    one = rw.ProcessRewardModel(prm, tokenizer, batch_size=1, aggregation="min").score(SOLUTIONS, [PROBLEM] * 3)
    assert [r for r, _ in one] == pytest.approx([r for r, _ in scored], abs=1e-5)


def test_orm_one_probability_per_sample(tokenizer) -> None:
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(0)
    orm = LlamaForSequenceClassification(_config(tokenizer, num_labels=1)).eval()
    batched = rw.OutcomeRewardModel(orm, tokenizer, batch_size=3).score(SOLUTIONS, [PROBLEM] * 3)
    single = rw.OutcomeRewardModel(orm, tokenizer, batch_size=1).score(SOLUTIONS, [PROBLEM] * 3)
    assert len(batched) == 3 and all(0 < r < 1 and s > 0 for r, s in batched)
    assert [r for r, _ in batched] == pytest.approx([r for r, _ in single], abs=1e-5)
    with pytest.raises(ValueError, match="prompts"):
        rw.OutcomeRewardModel(orm, tokenizer).score(SOLUTIONS, [PROBLEM])


# ---------------------------------------------------------------- CLI

def _write_run(root: Path, model_dir: Path, status: str = "done") -> Path:
    data_dir = root / "data" / "toy"
    data_dir.mkdir(parents=True)
    (data_dir / "test.jsonl").write_text(
        "".join(json.dumps({"question": q, "answer": "14"}) + "\n" for q in (PROBLEM, "1 + 1?", "2 + 2?")))
    run = root / "run"
    run.mkdir()
    config = {
        "plugins": ["my_plugin"],  # registers the dataset toy (tests/my_plugin.py)
        "data": {"name": "toy", "dir": str(root / "data"), "file": "test.jsonl", "limit": None, "shard": None},
        "selection": {"methods": ["coverage", "rm_weighted"],
                      "reward": {"model": str(model_dir), "kind": "prm", "aggregation": "last", "batch_size": 2}},
    }
    (run / "run.json").write_text(json.dumps({"config": config, "status": status}))
    (run / "problems.jsonl").write_text("".join(
        json.dumps(asdict(ProblemRecord(f"toy/test/{i}", 1.0, 2, 0, 2, 20, 1.0))) + "\n" for i in (0, 1)))
    samples = [("toy/test/0", 0, None), ("toy/test/0", 1, 0.123), ("toy/test/1", 0, None), ("toy/test/2", 0, None)]
    lines = [json.dumps(asdict(TrajectoryRecord(p, i, SOLUTIONS[i], 10, "stop", 0.5, "14", True, r,
                                                None if r is None else 0.01))) + "\n"
             for p, i, r in samples]
    (run / "trajectories.jsonl").write_text("".join(lines) + '{"problem_id": "toy/te')  # crash mid-line
    return run


def test_cli_fills_null_rewards_once(tmp_path: Path, prm, tokenizer, capsys) -> None:
    model_dir = tmp_path / "prm"
    prm.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    run = _write_run(tmp_path, model_dir)

    assert reward_cli([str(run)]) == 0
    text = (run / "trajectories.jsonl").read_text()
    recs = [json.loads(line) for line in text.splitlines()]  # the torn last line is gone
    assert 0 < recs[0]["reward"] < 1 and recs[0]["reward_s"] > 0
    assert recs[1]["reward"] == 0.123  # already scored: untouched
    assert 0 < recs[2]["reward"] < 1
    assert recs[3]["reward"] is None  # its problem never finished
    meta = json.loads((run / "run.json").read_text())
    # The closing summary now has the reward method the generation left out (no rewards then).
    assert meta["reward"]["kind"] == "prm" and set(meta["summary"]) >= {"coverage", "rm_weighted"}

    assert reward_cli([str(run)]) == 0  # idempotent: nothing left to score
    assert (run / "trajectories.jsonl").read_text() == text
    assert "scored 0 samples" in capsys.readouterr().out
    assert not list(run.glob("*.tmp"))

    assert reward_cli([str(run), "--aggregation", "min"]) == 2  # would mix two scorings
    assert "--rescore" in capsys.readouterr().err
    assert reward_cli([str(run), "--aggregation", "min", "--rescore"]) == 0
    recs = read_jsonl(run / "trajectories.jsonl")
    assert recs[1]["reward"] != 0.123 and not math.isnan(recs[1]["reward"])


def test_cli_takes_the_reward_models_device_and_dtype(tmp_path: Path, prm, tokenizer, capsys) -> None:
    model_dir = tmp_path / "prm"
    prm.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    run = _write_run(tmp_path, model_dir)
    assert reward_cli([str(run), "--dtype", "fp8"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error: ") and "'fp8'" in err and "float32" in err
    assert reward_cli([str(run), "--device", "cpu", "--dtype", "float32"]) == 0
    recs = read_jsonl(run / "trajectories.jsonl")
    assert 0 < recs[0]["reward"] < 1


def test_cli_scores_the_finished_problems_of_a_killed_run(tmp_path: Path, prm, tokenizer) -> None:
    # status "running" with no writer holding the lock: the run was killed (a live one is refused,
    # tests/test_runlock.py); its finished problems are scored, the unfinished one left to a resume.
    model_dir = tmp_path / "prm"
    prm.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    run = _write_run(tmp_path, model_dir, status="running")
    assert reward_cli([str(run)]) == 0
    rewards = {(r["problem_id"], r["sample_idx"]): r["reward"] for r in read_jsonl(run / "trajectories.jsonl")}
    assert rewards[("toy/test/0", 1)] == 0.123 and 0 < rewards[("toy/test/0", 0)] < 1
    assert 0 < rewards[("toy/test/1", 0)] < 1 and rewards[("toy/test/2", 0)] is None
