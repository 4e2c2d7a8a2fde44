"""Reward scoring of a run's samples: process (PRM) and outcome (ORM) reward models, timed per sample.

``models`` (the reward models, their kinds by registry, loading and the start-up check),
``score`` (scoring a run's samples a chunk at a time) and ``__main__``
(``python -m harness.reward RUN_DIR``: score a finished run, or score it again with another model).
"""

from harness.reward.models import (AGGREGATIONS, KINDS, OutcomeRewardModel, ProcessRewardModel, RewardModel, aggregate,
                                   check_reward_model, load_reward_model, reward_config, reward_identity, split_steps)
from harness.reward.score import run_questions, score_records, score_run

__all__ = ["AGGREGATIONS", "KINDS", "OutcomeRewardModel", "ProcessRewardModel", "RewardModel", "aggregate",
           "check_reward_model", "load_reward_model", "reward_config", "reward_identity", "run_questions",
           "score_records", "score_run", "split_steps"]
