#!/usr/bin/python3
"""An mmpp arrival trace as a file: trace (one arrival in µs per line), for simulators without the
mmpp: spec (slackfit_before_after.md). Usage: mmpp_trace.py CAPACITY LOAD OUT [RATIO]: mean rate
LOAD x CAPACITY, bursts RATIO (5) x the calm rate; calm spells of mean 1 s, bursts of 0.3 s; 120 s;
seed 1."""
import random
import sys


def main():
    cap, load, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    ratio = float(sys.argv[4]) if len(sys.argv) > 4 else 5
    calm_s, burst_s, duration = 1.0, 0.3, 120
    calm = load * cap * (calm_s + burst_s) / (calm_s + ratio * burst_s)
    rng, t, burst, arrivals = random.Random(1), 0.0, False, []
    end = rng.expovariate(1 / calm_s)
    while t < duration:
        gap = rng.expovariate(ratio * calm if burst else calm)
        if t + gap >= end:  # the state switches first; draw the next gap at the new rate
            t, burst = end, not burst
            end = t + rng.expovariate(1 / (burst_s if burst else calm_s))
            continue
        t += gap
        if t < duration:
            arrivals.append(t)
    with open(out, "w") as f:
        f.write("".join(f"{x * 1e6:.0f}\n" for x in arrivals))


if __name__ == "__main__":
    main()
