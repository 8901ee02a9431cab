#!/bin/sh
# The adding-problem budget sweep of docs/REPRODUCTIONS.md (Post 7888): 600 Adam steps of batch 32,
# H = 16, for each cell, length and seed; one JSON line per run in $OUT, then the table.
# About 10 minutes of CPU on 2 shared cores (T = 100 dominates). Run from the repository root.
OUT=${OUT:-/tmp/rnn-adding-sweep.jsonl}
: > $OUT
for seed in 0 1 2; do for cell in simple gru lstm; do for T in 10 25 50 100; do
  [ $cell = simple ] && [ $T = 100 ] && continue
  node bin/bert4ts.js rnn-gradients --task adding --cell $cell --length $T --hidden 16 --steps 600 --lr 0.02 --seed $seed --csv /tmp/adding-$cell-$T-$seed.csv >> $OUT
done; done; done
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const key = (r) => `${r.cell} T=${r.length}`, groups = {};
for (const r of rows) (groups[key(r)] ??= []).push(r.mseAfter);
console.log("| cell | T | held-out MSE after 600 steps (seeds 0, 1, 2) | solved (MSE < 0.01) |\n|---|---|---|---|");
for (const [k, v] of Object.entries(groups)) { const [c, t] = k.split(" "); console.log(`| ${c} | ${t.slice(2)} | ${v.map((x) => x.toFixed(4)).join(", ")} | ${v.filter((x) => x < 0.01).length}/${v.length} |`); }
' $OUT
