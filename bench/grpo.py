"""GRPO training speed. Prints one JSON object.

Part 1: model FLOP/s of the jitted Dr.GRPO update step that `jaxinterest grpo` runs
(`grpo.make_update`: policy forward + backward over [prompt + completion], loss, AdamW; the LM
head only over the C completion positions, the only ones a GRPO loss reads) against the
machine's own float32 jnp matmul rate measured in the same run (MFU). Model FLOPs per step
(PaLM appendix B convention, full T x T attention), counting only the work the step needs:

  rows * T * (6 * N_body + 12 * L * n_heads * head_dim * T) + rows * C * 6 * N_head

N_body = the decoder's matmul parameters (attention and MLP kernels; norm scales and biases
left out), N_head = V * D (the tied embedding counted once, as the LM head), T = prompt +
completion length. A head over all T positions would count rows * T * 6 * N_head, work no
GRPO loss needs; it is not counted. The anchor is the best rate of jnp.matmul over the step's
own GEMM shapes ([tokens, D] x [D, F] and [rows * C, D] x [D, V]) and a square 1024^3, so the
fraction is against what this machine's matmul reaches at its best. `--group 1` (default):
every row has its own random prompt, so the step runs its plain program; `--group G`: G rows
per prompt, as in a rollout, so it runs the shared-prompt program (`grpo.UpdateStep`: each
prompt once per micro-batch group of G / M rows), whose FLOPs are counted as it does them:
body tokens rows / g * P + rows * C, attention pairs rows / g * P^2 + rows * C * T (g = G / M,
P = T - C), the same head. `gradient_seconds` is value_and_grad alone (M micro-batches), so
step - gradient is the optimiser and the rest of the step.

Part 2: seconds per full GRPO iteration (`--rows` prompts x G samples, `--completion` new
tokens) split into rollout / reward / logprobs / update, for each `--presets` model, beside TRL's
GRPOTrainer(loss_type="dr_grpo") on the same weights (saved as an HF directory), the same
prompts (the last `--prompt` tokens of real tiny-world prompts, cut where TRL's tokenization
of their text gives the same ids), the same reward function (our `RewardModel`, called from a
TRL reward function), the same G, max new tokens, sampling (temperature 1, no top-p / top-k),
clip and inner epochs (TRL's num_iterations). Ours is `train.rollout.collect` + `train.grpo.
update`, the code `jaxinterest grpo` runs; "logprobs" is its reference forward (beta > 0 only;
pi_old, the entropy and the sampler-mismatch check come from the update's own forward). Every
user's reward state is prepared before either side is timed. The update phase's fraction of
the machine's matmul rate (part 1's FLOP formula, same run; TRL's trainer also runs its head
over the completion positions only, `logits_to_keep`) is printed for both, each against the
FLOPs it does: TRL every row's prompt (`update_gflop`), ours each prompt once per group
(`update_gflop_shared_prompts`; `--no-share-prompts` runs ours' plain program instead). The
two sides are interleaved in one process: after each of TRL's iterations (its step-end
callback, outside TRL's timed span) ours runs one, so that both see the same machine load.

  python bench/grpo.py [--part 1] [--preset tiny-21m] [--rows 16] [--prompt 120]
                       [--completion 48] [--micro-batches 2] [--repeat 5] [--group 1]
  python bench/grpo.py --part 2 [--presets tiny-5m,tiny-21m] [--group 8] [--repeat 3]
                       [--inner-epochs 1] [--micro-batches 1] [--world DIR] [--no-trl]
                       [--no-share-prompts]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import emit, machine, matmul_params, timeit  # noqa: E402
from jaxinterest.models.qwen2 import Qwen2Config, get_preset, init_params  # noqa: E402
from jaxinterest.sampling import pack  # noqa: E402
from jaxinterest.train import OptimConfig, create_state, logprob_fn  # noqa: E402


def step_flops(
    cfg: Qwen2Config, rows: int, seq: int, head_positions: int | None = None, group: int = 1
) -> float:
    """Model FLOPs of one forward + backward (module docstring); head_positions = C, the
    positions per row the LM head runs on (None: all seq). group = g > 1: rows share their
    P = seq - C prompt tokens in groups of g and the step runs each prompt once, so the body
    sees rows / g * P + rows * C tokens and attention (full squares, as above) rows / g * P^2
    prompt and rows * C * seq continuation query-key pairs (`--group`)."""
    head = cfg.vocab_size * cfg.hidden_size
    body = matmul_params(cfg) - head
    attn = 12 * cfg.num_layers * cfg.num_heads * cfg.head_dim
    c = seq if head_positions is None else head_positions
    if group == 1:
        return float(rows * seq * (6 * body + attn * seq) + rows * c * 6 * head)
    p = seq - c
    tokens, pairs = rows // group * p + rows * c, rows // group * p * p + rows * c * seq
    return float(tokens * 6 * body + pairs * attn + rows * c * 6 * head)


def matmul_timers(shapes) -> dict:
    """{"m x k x n": (flops, blocking call)} for jitted float32 jnp matmuls of these shapes."""
    out = {}
    for m, k, n in shapes:
        a = jnp.asarray(np.random.default_rng(0).normal(size=(m, k)), jnp.float32)
        b = jnp.asarray(np.random.default_rng(1).normal(size=(k, n)), jnp.float32)
        f = jax.jit(jnp.matmul)
        f(a, b).block_until_ready()
        out[f"{m}x{k}x{n}"] = (2 * m * k * n, lambda a=a, b=b, f=f: f(a, b).block_until_ready())
    return out


def grpo_batch(
    cfg: Qwen2Config, params, rows: int, prompt: int, completion: int, seed: int = 0, group: int = 1
):
    """Random full-length prompts (one per `group` consecutive rows) and completions."""
    rng = np.random.default_rng(seed)
    prompts = [list(rng.integers(1, cfg.vocab_size, prompt)) for _ in range(rows // group)]
    prompts = [p for p in prompts for _ in range(group)]
    comps = [list(rng.integers(1, cfg.vocab_size, completion)) for _ in range(rows)]
    batch = pack(prompts, comps, 0, prompt, completion)
    batch["old_logp"] = np.asarray(logprob_fn(cfg)(params, batch))
    batch["advantages"] = rng.normal(0, 1, rows).astype(np.float32)
    return {k: jnp.asarray(v) for k, v in batch.items()}


def part1(args) -> dict:
    from jaxinterest.train.grpo import GRPOConfig, grpo_update_objective, make_update

    cfg = get_preset(args.preset)
    seq, width = args.prompt + args.completion, args.completion
    params = init_params(cfg, jax.random.key(0))
    group = max(args.group, 2)
    if args.rows % group:
        raise ValueError(f"--rows {args.rows}: part 1 needs whole groups of {group}")
    gcfg = GRPOConfig(
        world="-", policy="-", prompts_per_step=args.rows // group, group_size=group,
        max_new_tokens=width, inner_epochs=1, micro_batches=args.micro_batches,
        optim=OptimConfig(lr=1e-6, warmup_steps=0, total_steps=1000),
    )  # fmt: skip
    optimizer, step = make_update(gcfg, cfg)
    # --group 1 (the default): every row its own prompt, so the step runs its plain program
    # (`grpo.UpdateStep`); --group G: G rows per prompt, the shared-prompt program
    batch = grpo_batch(cfg, params, args.rows, args.prompt, width, group=args.group)
    shared = step.shared is not None and args.group > 1
    flop_group = args.group // args.micro_batches if shared else 1
    batch["fresh"] = jnp.ones(args.rows, bool)  # the first inner epoch, as `grpo.update` runs it
    state = create_state(params, optimizer, jax.random.key(1))

    t0 = time.perf_counter()
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t0
    logp = logprob_fn(cfg, completion_width=width)
    jax.block_until_ready(logp(state.params, batch))

    tokens = args.rows * seq
    flops = step_flops(cfg, args.rows // args.micro_batches, seq, width, flop_group)
    flops *= args.micro_batches
    # gradients alone (the step without the optimiser, the non-finite guard and the state
    # copy): step - grad is what the update around the gradients costs
    grad = jax.jit(jax.value_and_grad(grpo_update_objective(gcfg, cfg), has_aux=True))
    first_mb = jax.tree.map(lambda x: x[:: args.micro_batches], batch)
    if shared:
        grad = jax.jit(
            jax.value_and_grad(
                grpo_update_objective(gcfg, cfg, prompt_group=flop_group), has_aux=True
            )
        )
    jax.block_until_ready(grad(state.params, first_mb, None, None))
    mm = matmul_timers(
        [
            (tokens // args.micro_batches, cfg.hidden_size, cfg.intermediate_size),
            (args.rows * width // args.micro_batches, cfg.hidden_size, cfg.vocab_size),
            (1024, 1024, 1024),
        ]
    )
    # Rounds interleave the step, the forward and the anchor matmuls so that load from other
    # processes hits all of them alike; each round gives its own fractions, and the medians
    # are reported.
    # CPU seconds (all threads of this process) are recorded beside wall seconds: on a shared
    # machine the wall time of a 10-40 s step and of a 0.1 s matmul see different shares of the
    # CPU, while CPU time counts only the work done (mfu_cpu_time: both sides in CPU seconds).
    rounds = []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        step_s, step_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        jax.block_until_ready(logp(state.params, batch))
        fwd_s = time.perf_counter() - t0
        rates = {name: f / timeit(call, warmup=0, repeat=3) / 1e9 for name, (f, call) in mm.items()}
        cpu_rates = {name: f / cpu_timeit(call) / 1e9 for name, (f, call) in mm.items()}
        t0 = time.perf_counter()
        for _ in range(args.micro_batches):  # one micro-batch's gradients, M times
            jax.block_until_ready(grad(state.params, first_mb, None, None))
        grad_s = time.perf_counter() - t0
        rounds.append((step_s, fwd_s, rates, step_cpu, cpu_rates, grad_s))
    step_s = float(np.median([r[0] for r in rounds]))
    fwd_s = float(np.median([r[1] for r in rounds]))
    peak = [max(r[2].values()) for r in rounds]
    mfu = [flops / r[0] / 1e9 / p for r, p in zip(rounds, peak, strict=True)]
    fwd_mfu = [flops / 3 / r[1] / 1e9 / p for r, p in zip(rounds, peak, strict=True)]
    cpu_mfu = [flops / r[3] / 1e9 / max(r[4].values()) for r in rounds]
    return {
        "preset": args.preset,
        "params": cfg.num_params,
        "matmul_params": matmul_params(cfg),
        "rows": args.rows,
        "rows_per_prompt": args.group,
        "shared_prompt_program": shared,
        "seq": seq,
        "micro_batches": args.micro_batches,
        "completion_width": width,
        "flops_formula": "rows*T*(6*N_body + 12*L*n_heads*head_dim*T) + rows*C*6*N_head",
        "step_gflop": round(flops / 1e9, 2),
        "step_gflop_head_on_all_positions": round(step_flops(cfg, args.rows, seq) / 1e9, 2),
        "step_seconds": round(step_s, 4),
        "compile_seconds": round(compile_s, 2),
        "tokens_per_s": round(tokens / step_s, 1),
        "model_gflops": round(flops / step_s / 1e9, 2),
        "matmul_gflops": {k: round(float(np.median([r[2][k] for r in rounds])), 2) for k in mm},
        "mfu": round(float(np.median(mfu)), 3),
        "mfu_rounds": [round(x, 3) for x in mfu],
        "step_cpu_seconds": round(float(np.median([r[3] for r in rounds])), 3),
        "mfu_cpu_time": round(float(np.median(cpu_mfu)), 3),
        "mfu_cpu_time_rounds": [round(x, 3) for x in cpu_mfu],
        "load_average": os.getloadavg(),
        "forward_seconds": round(fwd_s, 4),
        "gradient_seconds": round(float(np.median([r[5] for r in rounds])), 4),
        "forward_mfu": round(float(np.median(fwd_mfu)), 3),
        "nonfinite_steps": int(metrics["skipped"]),
    }


def cpu_timeit(call, repeat: int = 3) -> float:
    """Median process CPU seconds (all threads) of a blocking call."""
    times = []
    for _ in range(repeat):
        c0 = time.process_time()
        call()
        times.append(time.process_time() - c0)
    return float(np.median(times))


def world_prompts(args, tokenizer, workdir: str):
    """(world, prompt config, user ids, prompt token lists, prompt texts) of `--rows` training
    users of a tiny world (`--world`, else one generated into workdir). The template alone
    takes about 200 tiny-tokenizer tokens, so a `--prompt`-token prompt is the tail of the
    user's full rendered prompt (the instruction, the assistant turn, and as much behaviour
    as fits), cut where its text re-tokenizes to the same ids (TRL tokenizes the text)."""
    from jaxinterest.data.io import load_world
    from jaxinterest.data.pipeline import UserSource
    from jaxinterest.data.prompts import PromptConfig
    from jaxinterest.data.world import generate_world, make_config
    from jaxinterest.train.queries import user_prompts

    path = args.world
    if path is None:
        path = os.path.join(workdir, "world")
        generate_world(make_config("tiny", seed=5, n_news=1000, n_users=120), path, progress=False)
    world = load_world(path, parts=("news", "events", "users"))
    prompt_cfg = PromptConfig()
    users = UserSource(world, split="train").user_ids[: args.rows]
    if len(users) < args.rows:
        raise ValueError(f"{path}: {len(users)} training users, --rows {args.rows}")
    prompts, texts = [], []
    for u, full in zip(users, user_prompts(world, users, tokenizer, prompt_cfg), strict=True):
        for cut in range(max(len(full) - args.prompt, 0), len(full)):
            text = tokenizer.decode(full[cut:], skip_special_tokens=False)
            if tokenizer(text)["input_ids"] == full[cut:]:
                prompts.append(full[cut:])
                texts.append(text)
                break
        else:
            raise ValueError(f"user {u}: no tail of the prompt re-tokenizes to itself")
    return world, prompt_cfg, users, prompts, texts


class Ours:
    """`rollout.collect` + `grpo.update`, one iteration per call; `summary()` gives the median
    seconds per iteration and phase (the first iteration, with compilation, left out)."""

    def __init__(self, args, preset: str, params, tokenizer, users, prompts, reward_model):
        from jaxinterest.train.grpo import GRPOConfig, make_update
        from jaxinterest.train.policy import Policy

        self.args, self.users, self.prompts, self.reward_model = args, users, prompts, reward_model
        cfg = get_preset(preset)
        gcfg = GRPOConfig(
            world="-", policy="-", prompts_per_step=args.rows, group_size=args.group,
            max_new_tokens=args.completion, inner_epochs=args.inner_epochs,
            micro_batches=args.micro_batches, optim=OptimConfig(lr=1e-5, warmup_steps=0),
        )  # fmt: skip
        self.policy = Policy(cfg, params, tokenizer, preset)
        optimizer, step = make_update(gcfg, cfg)
        # --no-share-prompts: the plain program, every row's prompt through the model
        self.step = step.plain if args.no_share_prompts else step
        self.state = create_state(params, optimizer, jax.random.key(1))
        self.sampling = gcfg.sampling(self.policy.stop_ids)
        self.phases = {"rollout": [], "reward": [], "logprobs": [], "update": []}
        self.lengths, self.cpu, self.seq = [], [], None
        self.phase_cpu = {"collect": [], "update": []}  # process CPU seconds, all threads

    def __call__(self) -> None:
        from jaxinterest.train.grpo import update
        from jaxinterest.train.rollout import collect

        i = len(self.cpu)
        c0 = time.process_time()
        ro = collect(self.policy.with_params(self.state.params), self.prompts, self.users,
                     self.sampling, self.reward_model, key=jax.random.key(100 + i),
                     prompt_width=self.args.prompt)  # fmt: skip
        t0, c1 = time.perf_counter(), time.process_time()
        self.state, _ = update(self.state, ro.batch, self.step, self.args.inner_epochs)
        jax.block_until_ready(self.state.params)
        for k in ("rollout", "reward", "logprobs"):
            self.phases[k].append(ro.metrics[f"seconds_{k}"])
        self.phases["update"].append(time.perf_counter() - t0)
        self.cpu.append(time.process_time() - c0)
        self.phase_cpu["collect"].append(c1 - c0)
        self.phase_cpu["update"].append(self.cpu[-1] - (c1 - c0))
        self.lengths.append(ro.metrics["completion_tokens"])
        self.seq = int(ro.batch["tokens"].shape[1])

    def summary(self) -> dict:
        phases = self.phases
        total = np.sum([phases[k] for k in phases], axis=0)
        return {
            "iteration_seconds": round(float(np.median(total[1:])), 3),
            "phase_seconds": {k: round(float(np.median(v[1:])), 3) for k, v in phases.items()},
            "iteration_seconds_each": [round(float(x), 2) for x in total],
            "iteration_cpu_seconds": round(float(np.median(self.cpu[1:])), 3),
            # collect = rollout + reward + logprobs (`rollout.collect`)
            "phase_cpu_seconds": {
                k: round(float(np.median(v[1:])), 3) for k, v in self.phase_cpu.items()
            },
            "update_cpu_seconds_each": [round(float(x), 3) for x in self.phase_cpu["update"]],
            "first_iteration_seconds_with_compile": round(float(total[0]), 2),
            "iterations_timed": len(total) - 1,
            "mean_completion_tokens": round(float(np.mean(self.lengths)), 1),
            "seq": self.seq,
            "shared_prompts": not self.args.no_share_prompts,
        }


def part2(args) -> dict:
    import tempfile

    from jaxinterest.rewards import RewardConfig, build_rewards
    from jaxinterest.tokenizer import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    out: dict = {
        "rows": args.rows,
        "group": args.group,
        "completion_tokens": args.completion,
        "inner_epochs": args.inner_epochs,
        "micro_batches": args.micro_batches,
    }
    with tempfile.TemporaryDirectory() as work:
        world, prompt_cfg, users, prompts, texts = world_prompts(args, tokenizer, work)
        out["prompt_tokens_mean"] = round(float(np.mean([len(p) for p in prompts])), 1)
        reward_model = build_rewards(
            world,
            RewardConfig(text_cache_size=0),
            tokenizer=tokenizer,
            prompt_cfg=prompt_cfg,
            cache_dir=os.path.join(work, "rc"),
        )
        reward_model.prepare(users)

        def reward_fn(user_ids, completions):
            for u in dict.fromkeys(user_ids):
                reward_model.prepare([u])
            return [float(x) for x in reward_model.score(user_ids, completions).total]

        out["models"] = []
        for preset in args.presets.split(","):
            cfg = get_preset(preset)
            params = init_params(cfg, jax.random.key(0))
            r = {"preset": preset, "params": cfg.num_params, "matmul_params": matmul_params(cfg)}
            # the anchor is measured before, between and after the two sides (load from other
            # processes moves it); the median of the three is the rate both are held against
            rates = [matmul_rate(cfg)]
            ours = Ours(args, preset, params, tokenizer, users, prompts, reward_model)
            trl = None
            if not args.no_trl:
                # one iteration of ours after each of TRL's (from TRL's step-end callback), so
                # that both sides see the same load
                trl = trl_or_reason(args, cfg, params, tokenizer, work, texts, users,
                                    reward_fn, between=ours)  # fmt: skip
                r["trl"] = trl
            while len(ours.cpu) < args.repeat + 1:  # no TRL (or it stopped early)
                ours()
            r["ours"] = ours.summary()
            rates.append(matmul_rate(cfg))
            seq = r["ours"]["seq"]
            rows = args.rows * args.group
            plain = step_flops(cfg, rows, seq, args.completion) * args.inner_epochs
            m = args.micro_batches
            shared_group = args.group // m if args.group % m == 0 else 1
            shared = step_flops(cfg, rows // m, seq, args.completion, shared_group)
            shared *= m * args.inner_epochs
            peak = float(np.median(rates))
            r["matmul_gflops_rounds"] = [round(x, 2) for x in rates]
            r["matmul_gflops_median"] = round(peak, 2)
            # the update's FLOPs with every row's prompt through the model (TRL; ours with
            # --no-share-prompts), and with each prompt once per group (ours)
            r["update_gflop"] = round(plain / 1e9, 2)
            r["update_gflop_shared_prompts"] = round(shared / 1e9, 2)
            for side in ("ours", "trl"):
                if isinstance(r.get(side), dict):
                    upd = r[side]["phase_seconds"]["update"]
                    f = shared if side == "ours" and not args.no_share_prompts else plain
                    r[side]["update_fraction_of_matmul_rate"] = round(f / upd / 1e9 / peak, 3)
            if isinstance(r.get("trl"), dict):
                r["speedup_vs_trl"] = round(
                    r["trl"]["iteration_seconds"] / r["ours"]["iteration_seconds"], 2
                )
                # the same ratio in process CPU seconds (all threads): what each side's work
                # cost, whatever share of the machine other jobs left it while it ran
                r["speedup_vs_trl_cpu_time"] = round(
                    r["trl"]["iteration_cpu_seconds"] / r["ours"]["iteration_cpu_seconds"], 2
                )
            r["load_average_end"] = os.getloadavg()
            out["models"].append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    return out


def matmul_rate(cfg: Qwen2Config, rows: int = 2048) -> float:
    """Best GFLOP/s of jitted float32 jnp matmuls: [rows, D] x [D, F], [rows, D] x [D, V] and
    1024^3 (rows kept small so that one measurement takes seconds, not minutes, under load)."""
    shapes = [(rows, cfg.hidden_size, cfg.intermediate_size),
              (rows, cfg.hidden_size, cfg.vocab_size), (1024, 1024, 1024)]  # fmt: skip
    mm = matmul_timers(shapes)
    return max(f / timeit(call, warmup=0, repeat=3) / 1e9 for f, call in mm.values())


def trl_or_reason(args, cfg, params, tokenizer, work, texts, users, reward_fn, between=None):
    """TRL's figures, or why there are none."""
    try:
        import trl  # noqa: F401
    except ImportError:
        return "not installed (pip install -e '.[bench]')"
    from bench.grpo_trl import trl_iterations
    from jaxinterest.models.qwen2 import save_hf

    model_dir = os.path.join(work, "hf")
    save_hf(model_dir, cfg, params, tokenizer=tokenizer)
    return trl_iterations(model_dir, texts, users, reward_fn, group=args.group,
                          new_tokens=args.completion, inner_epochs=args.inner_epochs,
                          repeat=args.repeat, lr=1e-5, between=between)  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", type=int, choices=[1, 2], default=1)
    parser.add_argument("--preset", default="tiny-21m", help="part 1's model")
    parser.add_argument("--presets", default="tiny-5m,tiny-21m", help="part 2's models")
    parser.add_argument("--rows", type=int, default=16, help="rows (part 1), prompts (part 2)")
    parser.add_argument(
        "--group",
        type=int,
        default=None,
        help="rows per prompt: default 1 (part 1, plain program) / 8 (part 2)",
    )
    parser.add_argument(
        "--no-share-prompts",
        action="store_true",
        help="part 2: ours runs every row's prompt (the plain update program)",
    )
    parser.add_argument("--prompt", type=int, default=120)
    parser.add_argument("--completion", type=int, default=48)
    parser.add_argument("--micro-batches", type=int, default=None, help="default 2 / 1")
    parser.add_argument("--inner-epochs", type=int, default=1, help="part 2, = TRL num_iterations")
    parser.add_argument("--repeat", type=int, default=None, help="default 5 / 3")
    parser.add_argument("--world", default=None, help="part 2: a world directory")
    parser.add_argument("--no-trl", action="store_true")
    args = parser.parse_args(argv)
    if args.micro_batches is None:
        args.micro_batches = 2 if args.part == 1 else 1
    if args.group is None:
        args.group = 1 if args.part == 1 else 8
    if args.repeat is None:
        args.repeat = 5 if args.part == 1 else 3
    if args.part == 2:
        emit(
            {
                "bench": "grpo_iteration",
                "part": 2,
                "jax": jax.__version__,
                "anchor": "TRL GRPOTrainer(loss_type=dr_grpo); jnp float32 matmul rate",
                "machine": machine(),
                "load_average": os.getloadavg(),
                "result": part2(args),
            }
        )
        return
    emit(
        {
            "bench": "grpo_update_step",
            "part": 1,
            "anchor": "jnp float32 matmul, best of the step's GEMM shapes and 1024^3",
            "jax": jax.__version__,
            "machine": machine(),
            "result": part1(args),
        }
    )


if __name__ == "__main__":
    main()
