#!/usr/bin/env bash
# The full run behind docs/results.md: every experiment script on the `tiny` world (seed 0, the
# quickstart's), sized for 2 CPU cores. The scripts share their policies instead of retraining
# them: Figure 2's seed-0 cells train the teacher (tiny-2m: SFT, then the recipe's 300 Dr.GRPO
# iterations) and the student's warm start (tiny-1.5m SFT), and Tables 2, 3, 5, Figure 3 and
# Table 6 start from those (`train=false`); Table 3's "none" row and Table 5's full reward link
# to the cells' GRPO runs, which trained the same policies, and Table 3's on-policy row to Table
# 2's distilled student (`reuse`).
#
#   bash experiments/run_all.sh [OUT]        (default OUT: checkpoints/experiments/full)
#
# Every step resumes: rerun the same command after an interruption and finished work is
# skipped. PYTHON picks the interpreter (default: python). Every policy, baseline and reference
# row reads the users' cleaned behaviours: the first script trains the hashed n-gram noise
# classifier on the world and caches its keep mask beside the world (WORLD.clean-ngram/), which
# every later step reuses; CLEAN=0 runs everything on raw behaviours instead (use another OUT:
# a directory holding a cleaned run refuses a raw one). Figures 2 and 3 are copied into
# PUBLISH (default docs/figures; PUBLISH= copies nothing) after the last step: copied any
# earlier, they would change the checkout and every later manifest would record a dirty tree.
#
# Why `tiny` and not the scripts' default `small`: with the recipe's 400 instruction steps, a
# tiny-5m policy trained on the `small` world (1,500 users) wrote one list for every user
# (greedy validation Recall@10 .004 against the weak labels' .087), while on `tiny` the same
# recipe gives policies that copy each user's own entities (docs/training.md, "Policies that
# read their prompt"). Why a tiny-2m teacher: under one recipe tiny-2m is the family's best
# policy on this world (tiny-5m's SFT stays far behind it), and it is the policy the learning
# proof shows GRPO improving (tests/test_train_learning.py). Why a tiny-1.5m student: it is
# the smallest model with the two attention layers that copying from the prompt takes; the
# one-layer tiny-1m absorbed little of the teacher. Every policy row also scores four sampled
# answer sets (`recipe.answer_samples`), the answers GRPO trains. Other budget choices: models
# up to tiny-5m; Table 2's SmolLM2-135M rows (zero-shot, format SFT, GRPO) only with SMOLLM2=1,
# scored on 100 users.
set -euo pipefail

OUT=${1:-checkpoints/experiments/full}
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."

CLEAN=$([[ "${CLEAN:-1}" == 0 ]] && echo false || echo true)
PUBLISH=${PUBLISH-docs/figures}
WORLD=(--set world.preset=tiny --set world.seed=0 --set world.clean="$CLEAN")
CELLS="$OUT/fig2/cells"
STUDENT_START="$CELLS/teacher.model=tiny-1.5m,seed=0/teacher/sft/policy"
TEACHER="$CELLS/teacher.model=tiny-2m,seed=0/teacher/grpo/policy"
TEACHER_START="$CELLS/teacher.model=tiny-2m,seed=0/teacher/sft/policy"
# the cells' GRPO runs: Table 3's "none" row (GRPO from the student's warm start) and Table 5's
# full reward (GRPO from the teacher's warm start) train exactly what they trained, so they link
# to them instead of training again (jaxinterest/experiments/reuse.py checks the configs), and
# Table 3's on-policy distillation is Table 2's student, distilled with the same config
REUSE="[\"$CELLS/teacher.model=tiny-1.5m,seed=0/teacher/grpo\", \"$CELLS/teacher.model=tiny-2m,seed=0/teacher/grpo\", \"$OUT/table2/student/distill\"]"

step() { echo "== $(date -u +%H:%M:%S) $*" >&2; }

step "Figure 2, seed-0 cells of tiny-2m (the teacher) and tiny-1.5m (the student's warm start)"
$PY experiments/fig2_model_size.py --out "$OUT/fig2_seed0" "${WORLD[@]}" \
    --set models=tiny-2m,tiny-1.5m --set seeds=0 --set cells="$CELLS" --quiet

step "Table 2"
$PY experiments/table2_main.py --out "$OUT/table2" "${WORLD[@]}" \
    --set teacher.model="$TEACHER" --set teacher.train=false \
    --set student.model="$STUDENT_START" --set student.train=false \
    --set rows=popularity,own_searches,shuffled_searches,baselines,teacher,student,oracle --quiet

step "Table 3"
$PY experiments/table3_distill.py --out "$OUT/table3" "${WORLD[@]}" \
    --set teacher.model="$TEACHER" --set teacher.train=false \
    --set student.model="$STUDENT_START" --set student.train=false --set reuse="$REUSE" --quiet

step "Figure 3"
$PY experiments/fig3_best_of_n.py --out "$OUT/fig3" "${WORLD[@]}" \
    --set policy="$TEACHER" --set max_users=300 --quiet

step "Table 6"
$PY experiments/table6_throughput.py --out "$OUT/table6" "${WORLD[@]}" \
    --set teacher="$TEACHER" --set student="$OUT/table2/student/distill/policy" --quiet

step "Table 5 (the reward ablation, from the teacher's warm start)"
$PY experiments/table5_rewards.py --out "$OUT/table5" "${WORLD[@]}" \
    --set recipe.model="$TEACHER_START" --set reuse="$REUSE" --quiet

step "Figure 2, every cell: tiny-1m, tiny-1.5m, tiny-2m, tiny-5m x seeds 0, 1"
$PY experiments/fig2_model_size.py --out "$OUT/fig2" "${WORLD[@]}" \
    --set models=tiny-1m,tiny-1.5m,tiny-2m,tiny-5m --set seeds=0,1 --set cells="$CELLS" --quiet

if [[ "${SMOLLM2:-0}" == 1 ]]; then
    # greedy answers only (smollm2.answer_samples=0): four sampled sets would cost four times
    # a greedy pass, and every row (zero-shot, format SFT, GRPO) scores 100 users
    step "Table 2, SmolLM2-135M-Instruct rows (SMOLLM2=1)"
    $PY experiments/table2_main.py --out "$OUT/table2_smollm2" "${WORLD[@]}" --set rows=smollm2 \
        --set smollm2_users=100 --set smollm2.answer_samples=0 --quiet
fi

if [[ -n "$PUBLISH" ]]; then
    step "Figures 2 and 3 copied into $PUBLISH"
    mkdir -p "$PUBLISH"
    cp "$OUT/fig2/fig2.png" "$OUT/fig3/fig3.png" "$PUBLISH/"
fi

step "done: $OUT"
