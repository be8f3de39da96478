"""The five rewards of the paper's GRPO objective (eq. 9), computed on the host, batched.

    model = build_rewards(world, RewardConfig(), clean_fn=..., tokenizer=..., prompt_cfg=...)
    r = model.score(user_ids, completions)  # Rewards: raw / norm per signal, total [N] float32

R_align (training-window retrieval), R_cov and R_spec (rubric or LLM judge), R_div, R_struct;
see signals.py for the definitions, combine.py for the normalisation, docs/rewards.md for the
thresholds and how they were measured. Nothing here reads test clicks or oracle/.
"""

from jaxinterest.rewards.combine import Rewards, normalise, total
from jaxinterest.rewards.config import (
    DEFAULT_RANGES,
    DEFAULT_WEIGHTS,
    FLOOR,
    JUDGES,
    NORMALISATIONS,
    SIGNALS,
    LLMJudgeConfig,
    RewardConfig,
    RubricConfig,
    parse_weights,
)
from jaxinterest.rewards.judge_prompt import (
    SYSTEM_PROMPT,
    USER_TEMPLATE,
    JudgeAnswerError,
    judge_messages,
    parse_judge_answer,
)
from jaxinterest.rewards.judges import JudgeBatch, JudgeScores, RubricJudge
from jaxinterest.rewards.model import RewardModel, build_rewards
from jaxinterest.rewards.signals import (
    alignment,
    coverage,
    diversity,
    specificity,
    structure,
)
from jaxinterest.rewards.specificity import TermStats, specific, term_stats
from jaxinterest.rewards.themes import Themes, major_themes
from jaxinterest.rewards.view import UserView, ViewBuilder

__all__ = [
    "DEFAULT_RANGES",
    "DEFAULT_WEIGHTS",
    "FLOOR",
    "JUDGES",
    "NORMALISATIONS",
    "SIGNALS",
    "SYSTEM_PROMPT",
    "USER_TEMPLATE",
    "JudgeAnswerError",
    "JudgeBatch",
    "JudgeScores",
    "LLMJudgeConfig",
    "RewardConfig",
    "RewardModel",
    "Rewards",
    "RubricConfig",
    "RubricJudge",
    "TermStats",
    "Themes",
    "UserView",
    "ViewBuilder",
    "alignment",
    "build_rewards",
    "coverage",
    "diversity",
    "judge_messages",
    "major_themes",
    "normalise",
    "parse_judge_answer",
    "parse_weights",
    "specific",
    "specificity",
    "structure",
    "term_stats",
    "total",
]
