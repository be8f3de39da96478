#!/usr/bin/env bash
# The full run behind docs/results.md: every experiment script on the `tiny` world (seed 0, the
# quickstart's), sized to fit about two hours on 2 CPU cores. The scripts share their policies
# instead of retraining them: Figure 2's seed-0 cells train the teacher (tiny-5m) and the
# student's warm start (tiny-2m), and Tables 2, 3, 5, Figure 3 and Table 6 start from those
# (`train=false`).
#
#   bash experiments/run_all.sh [OUT]        (default OUT: checkpoints/experiments/full)
#
# Every step resumes: rerun the same command after an interruption and finished work is
# skipped. PYTHON picks the interpreter (default: python). Why `tiny` and not the scripts'
# default `small`: with the recipe's 400 instruction steps, a tiny-5m policy trained on the
# `small` world (1,500 users) wrote one list for every user (greedy validation Recall@10 .004
# against the weak labels' .087), while on `tiny` the same recipe gives policies that copy
# each user's own entities (docs/training.md, "Policies that read their prompt"). Other budget
# choices: models up to tiny-5m; SmolLM2 scored on 100 users.
set -euo pipefail

OUT=${1:-checkpoints/experiments/full}
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."

WORLD=(--set world.preset=tiny --set world.seed=0)
CELLS="$OUT/fig2/cells"
TEACHER_CELL="$CELLS/teacher.model=tiny-5m,seed=0/teacher"
STUDENT_CELL="$CELLS/teacher.model=tiny-2m,seed=0/teacher"
TEACHER="$TEACHER_CELL/grpo/policy"
STUDENT_START="$STUDENT_CELL/sft/policy"

step() { echo "== $(date -u +%H:%M:%S) $*" >&2; }

step "Figure 2, seed-0 cells of the teacher and the student (the policies the rest share)"
$PY experiments/fig2_model_size.py --out "$OUT/fig2_seed0" "${WORLD[@]}" \
    --set models=tiny-5m,tiny-2m --set seeds=0 --set cells="$CELLS" --quiet

step "Table 2"
$PY experiments/table2_main.py --out "$OUT/table2" "${WORLD[@]}" \
    --set teacher.model="$TEACHER" --set teacher.train=false \
    --set student.model="$STUDENT_START" --set student.train=false \
    --set smollm2.grpo.steps=4 --set smollm2.grpo.optim.total_steps=4 --set smollm2_users=100 \
    --quiet

step "Table 3"
$PY experiments/table3_distill.py --out "$OUT/table3" "${WORLD[@]}" \
    --set teacher.model="$TEACHER" --set teacher.train=false \
    --set student.model="$STUDENT_START" --set student.train=false --quiet

step "Figure 3"
$PY experiments/fig3_best_of_n.py --out "$OUT/fig3" "${WORLD[@]}" \
    --set policy="$TEACHER" --set max_users=300 --set publish=docs/figures --quiet

step "Table 6"
$PY experiments/table6_throughput.py --out "$OUT/table6" "${WORLD[@]}" \
    --set teacher="$TEACHER" --set student="$OUT/table2/student/distill/policy" --quiet

step "Table 5 (the reward ablation, from the student's warm start)"
$PY experiments/table5_rewards.py --out "$OUT/table5" "${WORLD[@]}" \
    --set recipe.model="$STUDENT_START" --set recipe.grpo.eval_every=0 --quiet

step "Figure 2, every cell: tiny-1m, tiny-2m, tiny-5m x seeds 0, 1"
$PY experiments/fig2_model_size.py --out "$OUT/fig2" "${WORLD[@]}" \
    --set models=tiny-1m,tiny-2m,tiny-5m --set seeds=0,1 --set cells="$CELLS" \
    --set publish=docs/figures --quiet

step "done: $OUT"
