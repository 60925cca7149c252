#!/usr/bin/env python3
"""Times whole processes of several binaries in alternation.

    python3 benches/alternate.py N BIN1 BIN2 ... -- ARGS

runs every binary with ARGS in turn, N rounds, and prints each one's
median, first quartile and minimum wall time. On a shared VM whose speed
drifts by more than the difference being measured, running the binaries
in turn keeps them under the same conditions (criterion runs one binary's
benches after the other's). Output goes to /dev/null; a failing run stops
the script.
"""
import os
import statistics
import subprocess
import sys
import time


def main():
    if "--" not in sys.argv or len(sys.argv) < 4:
        sys.exit(__doc__)
    split = sys.argv.index("--")
    rounds = int(sys.argv[1])
    binaries, args = sys.argv[2:split], sys.argv[split + 1:]
    times = {b: [] for b in binaries}
    with open(os.devnull, "w") as null:
        for _ in range(rounds):
            for b in binaries:
                start = time.perf_counter()
                subprocess.run([b] + args, stdout=null, check=True)
                times[b].append(time.perf_counter() - start)
    for b in binaries:
        t = sorted(times[b])
        print(f"{b}: median {statistics.median(t) * 1000:.1f} ms"
              f"  p25 {t[len(t) // 4] * 1000:.1f}  min {t[0] * 1000:.1f}")


if __name__ == "__main__":
    main()
