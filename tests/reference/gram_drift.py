#!/usr/bin/python3
"""tests/reference/gram_drift.py — 30 Adam steps at batch 256 from a trained CAE through the explicit
and the Gram decoder route, against float64 PyTorch (issue 25, part 2).  Run by hand:

    /usr/bin/python3 tests/reference/gram_drift.py build/tests/gram_accuracy CKPT DATA_DIR

gram_accuracy dump prints the problem (1024 images, the checkpoint's weights) and the parameters
tapegrad reaches through each route; make_reference.run_variant replays it in float64.  Prints the
largest parameter difference of each route from the float64 run (overall and per parameter), its
99.9th percentile and its root mean square: Adam's steps on elements whose gradient is near 0
amplify any rounding, so the largest difference is a noisy statistic of either route.
"""
import subprocess
import sys

import numpy as np

import make_reference


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: gram_drift.py PATH/TO/gram_accuracy CKPT DATA_DIR")
    dump = subprocess.run([sys.argv[1], "dump", sys.argv[2], sys.argv[3]], check=True, capture_output=True,
                          text=True).stdout
    _, x, labels, variants = make_reference.parse_problem(dump)
    results = {}
    for line in dump.splitlines():
        if line.startswith("result "):
            words = line.split()
            results[(words[1], words[2])] = make_reference.floats(words[4:])
    v = variants[0]
    _, after, _ = make_reference.run_variant(v, x, labels)
    steps = int(v["config"]["steps"])
    for route in ("explicit", "gram"):
        diffs, parts = [], []
        for name, ref in after[steps]:
            diff = np.abs(results[(route, name)] - ref.ravel())
            diffs.append(diff)
            parts.append("%s=%.3g" % (name, diff.max()))
        d = np.concatenate(diffs)
        print("route=%s max_param_diff=%.3g p99.9=%.3g rms=%.3g %s"
              % (route, d.max(), np.quantile(d, 0.999), np.sqrt((d ** 2).mean()), " ".join(parts)))


if __name__ == "__main__":
    main()
