# What the PyTorch sides of the benches share: 2 threads (run with OMP_WAIT_POLICY=PASSIVE for fair
# OpenMP settings), a fixed seed, and the median of timed repetitions after one warm-up call.
import statistics, time
import torch

torch.set_num_threads(2)
torch.manual_seed(0)

def median_ms(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)
