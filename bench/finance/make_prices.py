"""make_prices.py: writes N synthetic daily price files of T bars (seeded geometric random walks with
drawn ranges and volumes) into a folder, the input of bench/finance/run.sh.
Usage: python3 make_prices.py DIR [N] [T]"""
import datetime
import math
import os
import random
import sys

out, n, t = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100, int(sys.argv[3]) if len(sys.argv) > 3 else 5000
os.makedirs(out, exist_ok=True)
random.seed(1)
for s in range(n):
    c = 20 + 80 * random.random()
    day = datetime.date(2000, 1, 3)
    with open(os.path.join(out, f"S{s:03d}.csv"), "w") as f:
        f.write("date,open,high,low,close,volume\n")
        for _ in range(t):
            o = c * math.exp(random.gauss(0, 0.003))
            c = o * math.exp(random.gauss(0.0002, 0.015))
            hi, lo = max(o, c) * math.exp(abs(random.gauss(0, 0.005))), min(o, c) * math.exp(-abs(random.gauss(0, 0.005)))
            f.write(f"{day.isoformat()},{o:.4f},{hi:.4f},{lo:.4f},{c:.4f},{random.randint(10000, 99999)}\n")
            day += datetime.timedelta(days=1)
