"""Reward models behind one interface: a process reward model (PRM) and an outcome one (ORM).

PRM convention (RLHFlow ``Llama3.1-8B-PRM-Deepseek-Data``): the solution is split into steps on
blank lines; the conversation alternates user turns holding the steps (the first prefixed by
the problem) and assistant turns "+". A step's score is P("+") / (P("+") + P("-")) at the
position that predicts that step's assistant "+". Steps aggregate by ``last | min | prod | mean``.
ORM: ``AutoModelForSequenceClassification`` on the (problem, solution) chat, one score per
sample squashed to a probability. Both return (reward, seconds) per sample; the seconds go on
the plots' time axis. torch/transformers are imported lazily so the reporter stays light.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from harness.config import Aggregation, RewardConfig
from harness.errors import UserError
from harness.registry import Registry

AGGREGATIONS = tuple(a.value for a in Aggregation)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def split_steps(text: str) -> list[str]:
    """Reasoning steps: paragraphs separated by blank lines (at least one, possibly empty)."""
    steps = [s.strip() for s in _BLANK_LINE.split(text)]
    return [s for s in steps if s] or [text.strip()]


def aggregate(step_scores: Sequence[float], how: str) -> float:
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown PRM aggregation {how!r}; expected one of {AGGREGATIONS}")
    if not step_scores:
        raise ValueError("no step scores to aggregate")
    if how == "last":
        return float(step_scores[-1])
    if how == "min":
        return float(min(step_scores))
    if how == "prod":
        return float(math.prod(step_scores))
    return float(sum(step_scores) / len(step_scores))


class RewardModel:
    """Scores samples in length-sorted batches; subclasses say how to encode and read scores.

    Per-sample seconds = its own tokenisation time + its batch's forward time shared in
    proportion to its tokens (a batch is one forward pass, so it can't be timed per sample).
    """

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"reward batch_size must be >= 1, got {batch_size}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id or 0

    @classmethod
    def from_config(cls, model: Any, tokenizer: Any, cfg: RewardConfig) -> RewardModel:
        return cls(model, tokenizer, cfg.batch_size)

    def _encode(self, text: str, prompt: str) -> tuple[list[int], list[int]]:
        """Token ids, and the positions whose logits carry the score (PRM only)."""
        raise NotImplementedError

    def _forward(self, ids: Any, mask: Any, positions: list[list[int]]) -> list[Any]:
        """Raw model output per sample (PRM: its step scores; ORM: its score)."""
        raise NotImplementedError

    def _reward(self, raw: Any) -> float:
        return float(raw)

    def score(self, texts: list[str], prompts: list[str]) -> list[tuple[float, float]]:
        """(reward, seconds) for each text, given the problem it answers."""
        return [(self._reward(raw), s) for raw, s in self._run(texts, prompts)]

    def _run(self, texts: list[str], prompts: list[str]) -> list[tuple[Any, float]]:
        import torch

        if len(texts) != len(prompts):
            raise ValueError(f"{len(texts)} texts but {len(prompts)} prompts")
        encoded, enc_s = [], []
        for text, prompt in zip(texts, prompts):
            t0 = time.perf_counter()
            encoded.append(self._encode(text, prompt))
            enc_s.append(time.perf_counter() - t0)
        out: list[tuple[Any, float]] = [(None, 0.0)] * len(texts)
        # Similar lengths together: less padding, so less wasted compute.
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i][0]))
        device = self.model.device
        for b in range(0, len(order), self.batch_size):
            batch = order[b : b + self.batch_size]
            t0 = time.perf_counter()
            width = max(len(encoded[i][0]) for i in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):  # right padding: causal positions stay unchanged
                n = len(encoded[i][0])
                ids[row, :n] = torch.tensor(encoded[i][0])
                mask[row, :n] = 1
            with torch.inference_mode():
                raws = self._forward(ids.to(device), mask.to(device), [encoded[i][1] for i in batch])
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            batch_s = time.perf_counter() - t0
            tokens = sum(len(encoded[i][0]) for i in batch)
            for i, r in zip(batch, raws):
                out[i] = (r, enc_s[i] + batch_s * len(encoded[i][0]) / tokens)
        return out


class ProcessRewardModel(RewardModel):
    @staticmethod
    def auto_class() -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    @classmethod
    def from_config(cls, model: Any, tokenizer: Any, cfg: RewardConfig) -> ProcessRewardModel:
        return cls(model, tokenizer, cfg.batch_size, str(cfg.aggregation))

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8, aggregation: str = "last") -> None:
        super().__init__(model, tokenizer, batch_size)
        aggregate([1.0], aggregation)  # validate early, not after an hour of scoring
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the PRM's tokenizer has no chat template; the step convention needs one")
        self.aggregation = aggregation
        self.plus_id = tokenizer.encode("+", add_special_tokens=False)[-1]
        self.minus_id = tokenizer.encode("-", add_special_tokens=False)[-1]

    def step_scores(self, texts: list[str], prompts: list[str]) -> list[list[float]]:
        """Per-step P("+") of each text (what ``score`` aggregates)."""
        return [raw for raw, _ in self._run(texts, prompts)]

    def _reward(self, raw: list[float]) -> float:
        return aggregate(raw, self.aggregation)

    def _render(self, conversation: list[dict[str, str]], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=generation_prompt)

    def _encode(self, text: str, prompt: str) -> tuple[list[int], list[int]]:
        conversation: list[dict[str, str]] = []
        plus_chars = []
        for k, step in enumerate(split_steps(text)):
            conversation.append({"role": "user", "content": f"{prompt} {step}" if k == 0 else step})
            # The rendered prefix up to the assistant header ends where this step's "+" begins.
            plus_chars.append(len(self._render(conversation, True)))
            conversation.append({"role": "assistant", "content": "+"})
        full = self._render(conversation, False)
        if any(full[c : c + 1] != "+" for c in plus_chars):
            raise ValueError("the PRM's chat template does not render conversations prefix by prefix")
        enc = self.tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        starts = [s for s, _ in enc["offset_mapping"]]
        # Token holding each "+": the last token starting at or before it; its logit comes one
        # position earlier (the position trained to predict "+" / "-").
        positions = [_last_at_or_before(starts, c) - 1 for c in plus_chars]
        return list(enc["input_ids"]), positions

    def _forward(self, ids: Any, mask: Any, positions: list[list[int]]) -> list[list[float]]:
        import torch

        keep = sorted({p for ps in positions for p in ps})
        column = {p: j for j, p in enumerate(keep)}
        # Only the scored positions go through the LM head (full-vocabulary logits for every
        # token of a long batch would cost GBs).
        logits = self.model(input_ids=ids, attention_mask=mask, logits_to_keep=torch.tensor(keep, device=ids.device)).logits
        pair = logits[..., [self.plus_id, self.minus_id]].float().softmax(dim=-1)[..., 0].cpu()
        return [[float(pair[row, column[p]]) for p in ps] for row, ps in enumerate(positions)]


def _last_at_or_before(starts: list[int], char: int) -> int:
    lo, hi = 0, len(starts)
    while lo < hi:  # bisect_right over token start offsets
        mid = (lo + hi) // 2
        if starts[mid] <= char:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


class OutcomeRewardModel(RewardModel):
    @staticmethod
    def auto_class() -> Any:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8) -> None:
        super().__init__(model, tokenizer, batch_size)
        if model.config.num_labels not in (1, 2):
            raise ValueError(f"an ORM needs 1 or 2 labels, this model has {model.config.num_labels}")
        # Sequence classifiers read the last non-pad token, so they must know the pad id.
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.pad_id

    def _encode(self, text: str, prompt: str) -> tuple[list[int], list[int]]:
        if getattr(self.tokenizer, "chat_template", None):
            chat = [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}]
            rendered = self.tokenizer.apply_chat_template(chat, tokenize=False)
            return list(self.tokenizer(rendered, add_special_tokens=False)["input_ids"]), []
        return list(self.tokenizer(f"{prompt}\n\n{text}")["input_ids"]), []

    def _forward(self, ids: Any, mask: Any, positions: list[list[int]]) -> list[float]:
        logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        # Probabilities, so rm_weighted can sum them (raw scores may be negative).
        probs = logits[:, 0].sigmoid() if logits.shape[1] == 1 else logits.softmax(dim=-1)[:, 1]
        return [float(p) for p in probs.cpu()]


KINDS = Registry("reward model kind", "selection.reward.kind=<name>", {
    "prm": "harness.reward.models:ProcessRewardModel",
    "orm": "harness.reward.models:OutcomeRewardModel",
})


def check_reward_model(cfg: RewardConfig, methods: Sequence[str]) -> None:
    """Fail now, in one line, when the reward model that ``methods`` (those of selection.methods
    that need rewards) read cannot be had: a run checks this before it generates anything, and
    loads the model only after generation (its memory stays free)."""
    from transformers import AutoTokenizer

    from harness.generation.models import resolve
    from harness.generation.models.hub import model_info

    if not cfg.model:
        raise UserError(f"selection.methods has {', '.join(methods)}, which need rewards, but no reward model is "
                        "set: set selection.reward.model (conf/selection/prm.yaml) or use selection=majority")
    KINDS.get(str(cfg.kind))
    model_info(cfg.model, option="selection.reward.model")
    if cfg.kind == "prm" and not getattr(AutoTokenizer.from_pretrained(resolve(cfg.model)), "chat_template", None):
        raise UserError(f"selection.reward.model={cfg.model}: its tokenizer has no chat template, which the PRM "
                         "step convention needs (harness/reward/models.py)")


def load_reward_model(cfg: RewardConfig) -> RewardModel:
    """Load the reward model named by a ``selection.reward`` config (hub id, local dir or builtin:<name>).

    Its ``device`` and ``dtype`` default as the generator's do: the GPU when there is one, and
    ``harness.generation.devices.choose_dtype`` (bf16 on CUDA, fp32 on CPUs without native bf16).
    """
    from transformers import AutoTokenizer

    from harness.generation.devices import pick_device, pick_dtype
    from harness.generation.models import resolve

    if not cfg.model:
        raise UserError("no reward model configured: set selection.reward.model (or pass --model)")
    kind = KINDS.get(str(cfg.kind))
    device = pick_device(cfg.device, "selection.reward.device")
    dtype, _ = pick_dtype(str(cfg.dtype), device, "selection.reward.dtype")
    path = resolve(cfg.model)
    model = kind.auto_class().from_pretrained(path, dtype=dtype).to(device)
    return kind.from_config(model, AutoTokenizer.from_pretrained(path), cfg)


def reward_identity(cfg: RewardConfig) -> dict[str, str | None]:
    """What run.json records as ``reward``: one run's rewards all come from this."""
    return {"model": cfg.model, "kind": str(cfg.kind), "aggregation": str(cfg.aggregation)}



def reward_config(values: Mapping[str, Any]) -> RewardConfig:
    """A ``RewardConfig`` from plain values (a run's saved config, CLI flags), type-checked."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RewardConfig), dict(values)))
    except OmegaConfBaseException as err:
        raise UserError(f"selection.reward: {str(err).splitlines()[0]}") from None
