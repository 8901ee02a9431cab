#!/bin/sh
# Regenerates every CSV and SVG of "Post 7888: RNN gradients" in docs/REPRODUCTIONS.md.
# Jacobian figures: seconds. Adding-problem profiles: about a minute. Run from the repository root.
set -e
D=docs/rnn-gradients
R="node bin/bert4ts.js rnn-gradients"
for act in tanh relu; do
  for S in 0.5 0.9 1 1.1 1.5 2 3; do
    $R --cell simple --activation $act --length 200 --scale $S --seed 0 --csv $D/simple-$act-S$S.csv
    $R --cell simple --activation $act --length 200 --scale $S --seed 0 --init normal --csv $D/simple-$act-normal-S$S.csv
  done
  $R --plot $D/simple-$act.svg --title "SimpleRNN $act, orthogonal U = S·Q: ‖∂h_T/∂h_{T−d}‖_F" $D/simple-$act-S0.5.csv $D/simple-$act-S0.9.csv $D/simple-$act-S1.csv $D/simple-$act-S1.1.csv $D/simple-$act-S1.5.csv $D/simple-$act-S2.csv $D/simple-$act-S3.csv
done
for B in 0 1 3; do for st in h c; do
  $R --cell lstm --length 200 --scale 1 --forget-bias $B --state $st --seed 0 --csv $D/lstm-fb$B-$st.csv
done; done
$R --plot $D/lstm.svg --title "LSTM, orthogonal S=1: ‖∂h_T/∂h_{T−d}‖ and ‖∂c_T/∂c_{T−d}‖ by forget bias" $D/lstm-fb0-h.csv $D/lstm-fb1-h.csv $D/lstm-fb3-h.csv $D/lstm-fb0-c.csv $D/lstm-fb1-c.csv $D/lstm-fb3-c.csv
for S in 0.5 1 2 3; do $R --cell gru --length 200 --scale $S --seed 0 --csv $D/gru-S$S.csv; done
$R --plot $D/gru.svg --title "GRU, orthogonal U = S·Q: ‖∂h_T/∂h_{T−d}‖_F" $D/gru-S0.5.csv $D/gru-S1.csv $D/gru-S2.csv $D/gru-S3.csv
for cell in simple lstm; do
  $R --task adding --cell $cell --length 25 --hidden 16 --steps 600 --lr 0.02 --seed 0 --csv $D/adding-$cell-T25.csv --svg $D/adding-$cell-T25.svg
done
