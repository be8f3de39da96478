"""Training machinery shared by SFT, Dr.GRPO and distillation (reward-independent).

state.py       TrainState pytree (params, opt_state, step, rng, skipped) and its shardings
optim.py       OptimConfig -> AdamW, linear warmup + cosine, global-norm clipping
losses.py      group_advantages, dr_grpo_loss, sft_loss, reverse_kl: pure (loss, aux)
objectives.py  policy log-probs over [prompt + completion]; GRPO / SFT objectives
step.py        one jitted, donated update step for any objective: micro-batch accumulation,
               non-finite guard, sharded like the state
checkpoint.py  Orbax checkpoints (state, data iterator state, config; keep-last-N + best)
metrics.py     JSONL metrics (+ TensorBoard when tensorboardX is installed)
distributed.py jax.distributed set-up and per-process batch placement
"""

from jaxinterest.train.checkpoint import Checkpointer, Restored
from jaxinterest.train.distributed import initialize, is_primary, shard_batch
from jaxinterest.train.losses import dr_grpo_loss, group_advantages, k3_kl, reverse_kl, sft_loss
from jaxinterest.train.metrics import MetricsWriter, read_metrics
from jaxinterest.train.objectives import (
    grpo_objective,
    logprob_fn,
    policy_logprobs,
    sft_objective,
)
from jaxinterest.train.optim import OptimConfig, make_optimizer, make_schedule
from jaxinterest.train.state import (
    TrainState,
    abstract_state,
    create_state,
    init_state,
    state_shardings,
)
from jaxinterest.train.step import make_train_step, train_step_fn

__all__ = [
    "Checkpointer",
    "MetricsWriter",
    "OptimConfig",
    "Restored",
    "TrainState",
    "abstract_state",
    "create_state",
    "dr_grpo_loss",
    "grpo_objective",
    "group_advantages",
    "init_state",
    "initialize",
    "is_primary",
    "k3_kl",
    "logprob_fn",
    "make_optimizer",
    "make_schedule",
    "make_train_step",
    "policy_logprobs",
    "read_metrics",
    "reverse_kl",
    "sft_loss",
    "sft_objective",
    "shard_batch",
    "state_shardings",
    "train_step_fn",
]
