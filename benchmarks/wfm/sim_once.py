"""One simulator run of the bench's center, for running under cachegrind (deterministic counts).

Run (marginal cost per call = the difference between two lengths of the same center, so
start-up and setup cancel out)::

    for run in "1 48" "1 96" "10 10" "10 20"; do set -- $run
      valgrind --tool=cachegrind --cache-sim=yes --D1=49152,12,64 --LL=1048576,8,64 \\
        --cachegrind-out-file=/tmp/cg.$1.$2 python benchmarks/wfm/sim_once.py $1 $2
    done

``--LL`` is set to this VM's 1 MB L2 (cachegrind models two levels). Instructions, L1 and
L2 misses per call: (counts of the longer run - counts of the shorter) / (calls of the
longer - calls of the shorter); the run prints its calls.
"""

from __future__ import annotations

import sys

import bench_sim

from tsunagi.sim.engine import simulate


def main() -> None:
    scale, intervals = float(sys.argv[1]), int(sys.argv[2])
    bench_sim.INTERVALS = intervals
    result = simulate(bench_sim.scenario(scale, 1, 180), seed=1)
    print(f"scale {scale:g} intervals {intervals}: calls {result.calls} events {result.events}")


if __name__ == "__main__":
    main()
