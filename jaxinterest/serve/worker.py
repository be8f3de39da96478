"""What the batcher's worker thread runs: one sampler call for a batch of compatible jobs, then
the results split back per job (truncated to each job's own max_tokens and stop strings).

Exactness. Each job (one prompt of a request) samples with its own key
`jax.random.key(seed)` through `generate(..., keys=...)`, which draws every prompt's samples as
`generate([prompt], key=key)` alone would, so a job's tokens do not depend on what it was
batched with. Jobs share one call only when their temperature, top-p, top-k and n agree (those
are per-call values of the sampler, see `batch_key`); the call runs to the largest max_tokens
of the batch and each job keeps its own prefix, which is what a call with its own max_tokens
gives (a row's token t depends only on the tokens before it). Floating-point sums over a
different batch or padding width may differ in the last bits, so log-probs agree to ~1e-6 and
tokens agree unless two candidates tie to that precision.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp

from jaxinterest.sampling import SamplingParams, ShapeBuckets, generate
from jaxinterest.sampling.shapes import power_of_two
from jaxinterest.serve.model import ServedModel
from jaxinterest.serve.protocol import Sampling
from jaxinterest.serve.scoring import TokenScores, score_sequences

# Prompts prefilled together (longest first, each group at its own width). Small groups keep
# the prefill's activations in cache; measured in docs/serving.md ("Prefill groups").
PREFILL_ROWS = 4
# The server's compiled shapes (see `sampling.shapes`): decode rows and widths in powers of
# two, prompts up to 512 tokens in one decode width, max_tokens up to 64 in one output width.
SHAPES = ShapeBuckets(prompt_width=512, new_tokens=64)


@dataclasses.dataclass(frozen=True)
class Job:
    """One prompt of a request. max_tokens 0: score the prompt only."""

    prompt: tuple[int, ...]
    max_tokens: int
    seed: int
    stop: tuple[str, ...] = ()
    alternatives: int = 0  # top-k alternatives listed beside each generated token
    prompt_scores: int | None = None  # None: no prompt scoring; k: alternatives per token


@dataclasses.dataclass(frozen=True)
class Choice:
    """One sample. tokens/logprobs cover the returned text (no final EOS; cut at a stop
    string); `generated` counts every token the sampler produced for it (usage)."""

    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]
    text: str
    finish_reason: str  # "stop" (EOS or stop string) or "length"
    generated: int
    alternatives: TokenScores | None = None


@dataclasses.dataclass(frozen=True)
class JobResult:
    choices: tuple[Choice, ...]
    prompt_scores: TokenScores | None = None


def batch_key(sampling: Sampling, max_tokens: int, shapes: ShapeBuckets = SHAPES) -> tuple:
    """Jobs with equal keys can share one sampler call (and one compiled output width)."""
    if max_tokens == 0:
        return ("score",)
    return ("generate", sampling.normalized(), shapes.new(max_tokens))


def _cut_at_stop(model: ServedModel, ids: list[int], stop: tuple[str, ...]):
    """(ids, text, stopped): the shortest prefix whose text holds a stop string, its text cut
    before that string; or everything when no stop string occurs."""
    text = model.decode(ids)
    if not stop or not any(s in text for s in stop):
        return ids, text, False
    lo, hi = 1, len(ids)  # smallest k whose decoded prefix holds a stop string
    while lo < hi:
        mid = (lo + hi) // 2
        if any(s in model.decode(ids[:mid]) for s in stop):
            hi = mid
        else:
            lo = mid + 1
    text = model.decode(ids[:lo])
    cut = min(text.find(s) for s in stop if s in text)
    return ids[:lo], text[:cut], True


def choice_of(model: ServedModel, job: Job, tokens, logprobs, length, finished) -> Choice:
    """One sample's Choice from a sampler row: tokens [N], raw log-probs [N], its length and
    whether it ended on a stop token; cut to the job's max_tokens and stop strings."""
    length, finished = int(length), bool(finished)
    if length > job.max_tokens:  # the batch ran longer than this job asked for
        length, finished = job.max_tokens, False
    keep = length - 1 if finished else length  # the EOS is not part of the text
    ids = [int(t) for t in tokens[:keep]]
    ids, text, stopped = _cut_at_stop(model, ids, job.stop)
    lps = tuple(float(x) for x in logprobs[: len(ids)])
    reason = "stop" if finished or stopped else "length"
    return Choice(tuple(ids), lps, text, reason, length)


def _sample(
    model: ServedModel,
    sampling: Sampling,
    jobs: list[Job],
    prefill_rows: int,
    shapes: ShapeBuckets,
):
    """One `generate` call in the server's shapes. The job list is padded to a power of two
    with one-token prompts (what `generate` pads with), so that the per-prompt key arrays built
    here have one of a few shapes too."""
    pad = power_of_two(len(jobs)) - len(jobs)
    options = SamplingParams(
        max_new_tokens=max(j.max_tokens for j in jobs),
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        stop_ids=model.stop_ids,
        num_samples=sampling.n,
    )
    keys = None
    if not options.greedy:
        keys = jnp.stack([jax.random.key(j.seed) for j in jobs] + [jax.random.key(0)] * pad)
    return generate(
        model.params,
        model.cfg,
        [list(j.prompt) for j in jobs] + [[model.pad_id]] * pad,
        options,
        keys=keys,
        pad_id=model.pad_id,
        # Each job fits the context with its own max_tokens (protocol.py); tokens past that,
        # run only because a batch-mate asked for more, are cut off in `choice_of`.
        max_len=max(model.context, max(len(j.prompt) for j in jobs) + options.max_new_tokens),
        prefill_rows=prefill_rows,
        buckets=shapes,
    )


def _slice(s: TokenScores, lo: int, hi: int, k: int) -> TokenScores:
    return TokenScores(
        s.logprobs[lo:hi], s.ranks[lo:hi], s.top_logprobs[lo:hi, :k], s.top_ids[lo:hi, :k]
    )


def run_batch(
    model: ServedModel,
    key: tuple,
    sampling: Sampling | None,
    jobs: list[Job],
    prefill_rows: int = PREFILL_ROWS,
    shapes: ShapeBuckets = SHAPES,
):
    """Results of `jobs` (all with `batch_key` == key), in order."""
    n = sampling.n if sampling is not None else 1
    if key[0] == "score":
        choices = [() for _ in jobs]
    else:
        out = _sample(model, sampling, jobs, prefill_rows, shapes)
        choices = []
        for i, job in enumerate(jobs):
            rows = range(i * n, (i + 1) * n)
            choices.append(
                tuple(
                    choice_of(
                        model,
                        job,
                        out.tokens[r],
                        out.logprobs_raw[r],
                        out.lengths[r],
                        out.finished[r],
                    )
                    for r in rows
                )
            )
    # One scoring pass for every sequence that wants alternatives or prompt log-probs.
    wanted = []  # (job index, choice index or None for the prompt, k)
    for i, job in enumerate(jobs):
        if job.prompt_scores is not None:
            wanted.append((i, None, job.prompt_scores))
        if job.alternatives:
            wanted += [(i, c, job.alternatives) for c in range(len(choices[i]))]
    scored = {}
    if wanted:
        seqs = [
            list(jobs[i].prompt) + ([] if c is None else list(choices[i][c].tokens))
            for i, c, _ in wanted
        ]
        k = max(w[2] for w in wanted)
        for (i, c, kk), s in zip(
            wanted, score_sequences(model.params, model.cfg, seqs, k, model.pad_id), strict=True
        ):
            p = len(jobs[i].prompt)
            scored[i, c] = _slice(s, 0, p, kk) if c is None else _slice(s, p, len(s.logprobs), kk)
    results = []
    for i, _ in enumerate(jobs):
        cs = tuple(
            dataclasses.replace(ch, alternatives=scored.get((i, c)))
            for c, ch in enumerate(choices[i])
        )
        results.append(JobResult(cs, scored.get((i, None))))
    return results


def warm_up(
    model: ServedModel,
    max_rows: int = 64,
    prefill_rows: int = PREFILL_ROWS,
    shapes: ShapeBuckets = SHAPES,
    log=print,
) -> int:
    """Compiles the server's common programs before the first request; returns their count.

    For every decode-row bucket up to `max_rows` (powers of two), greedy and sampled (T > 0,
    no top-k/top-p filter): the decode program at the first prompt and output width buckets,
    and the prefill programs of its group size at every group width up to that prompt width
    (prompt lengths chosen so that each group lands on its own width); with max_rows > 1 also
    the programs of the continuous engine with max_rows rows (`ContinuousEngine.warm_up`).
    Other shapes (longer prompts or max_tokens, top-k/top-p, n > 1) compile on first use.
    """
    widths = list(range(64, shapes.prompt_width + 1, 64))[::-1] or [shapes.prompt_width]
    steps, rows, groups_done = 0, 1, set()
    while rows <= max_rows:
        group = min(rows, prefill_rows)
        # ceil(len(widths) / groups) calls put one group on every width (once per group size).
        calls = 1 if group in groups_done else -(-len(widths) // max(1, rows // group))
        groups_done.add(group)
        for temperature in (1.0, 0.0):
            t0 = time.perf_counter()
            for c in range(calls if temperature else 1):
                lengths = [
                    widths[(c * (rows // group) + i // group) % len(widths)] for i in range(rows)
                ]
                jobs = [
                    Job(prompt=(3,) * n, max_tokens=shapes.new_tokens, seed=i)
                    for i, n in enumerate(lengths)
                ]
                sampling = Sampling(temperature, 1.0, 0, 1)
                run_batch(
                    model,
                    batch_key(sampling, shapes.new_tokens, shapes),
                    sampling,
                    jobs,
                    prefill_rows,
                    shapes,
                )
                steps += 1
            kind = "sampled" if temperature else "greedy"
            log(f"warm-up: {rows} rows, {kind}: {time.perf_counter() - t0:.1f} s")
        rows *= 2
    if max_rows > 1:  # the continuous engine a batching server runs with max_rows rows
        from jaxinterest.serve.continuous import ContinuousEngine

        engine = ContinuousEngine(model, max_rows, shapes=shapes, prefill_rows=prefill_rows)
        steps += engine.warm_up(log)
    return steps
