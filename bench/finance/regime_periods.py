#!/usr/bin/python3
"""regime_periods.py: the share of days called bear in known sell-offs and calm advances of the real
series (tests/finance/real), by moe-finance's walk-forward regimes and by the textbook trend rule
(bear while the close is below its 200-day moving average), side by side.

Usage (from the repository root, after building):
  build/apps/moe-finance --db /tmp/rp.db regimes -o /tmp/rp.csv tests/finance/real
  /usr/bin/python3 bench/finance/regime_periods.py /tmp/rp.csv tests/finance/real
"""
import csv
import glob
import os
import sys

PERIODS = [("sell-off Oct-Nov 1987", "1987-10-19", "1987-11-30"), ("sell-off Aug 1998", "1998-08-04", "1998-08-14"),
           ("sell-off Jun-Oct 2002", "2002-06-15", "2002-10-15"), ("sell-off Sep 2008-Mar 2009", "2008-09-15", "2009-03-09"),
           ("calm 1995-96", "1995-01-01", "1996-12-31"), ("calm Jun 1996-Jun 1997", "1996-06-01", "1997-06-30"),
           ("calm 2004-06", "2004-01-01", "2006-12-31")]


def share(days, a, b):
    x = [bear for d, bear in days.items() if a <= d <= b]
    return sum(x) / len(x) if x else None


def main():
    hmm = {}
    for r in csv.DictReader(open(sys.argv[1])):
        hmm.setdefault(r["symbol"], {})[r["date"]] = r["label"] == "bear"
    print("| series | period | HMM walk-forward | close below its 200-day average |")
    print("|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(sys.argv[2], "*.csv"))):
        rows = list(csv.DictReader(open(path)))
        symbol = os.path.basename(path)[:-4].upper()
        close = [float(r["close"]) for r in rows]
        ma = {rows[t]["date"]: close[t] < sum(close[t - 199:t + 1]) / 200 for t in range(199, len(rows))}
        for name, a, b in PERIODS:
            h, m = share(hmm.get(symbol, {}), a, b), share(ma, a, b)
            if h is not None and m is not None:
                print(f"| {symbol} | {name} | {h:.2f} | {m:.2f} |")


main()
