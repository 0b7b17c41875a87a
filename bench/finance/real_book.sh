#!/usr/bin/env bash
# real_book.sh: the book against buy-and-hold on the real index histories of tests/finance/real
# (closes only: DAX, SMI, CAC, FTSE 1991-98, the Dow 1980-2012, MSCI Switzerland 1995-2012; and
# TTR's ttrc stock, 1985-2006, with real opens), regimes alone, default options, for each fill
# model; and how often `regimes` and `backtest` give the same label. Prints a Markdown table.
# Usage: bench/finance/real_book.sh [BUILD_DIR] [EXTRA BACKTEST OPTIONS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
shift || true
fin=$build/apps/moe-finance
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| series | fill | days | strategy CAGR | vol | Sharpe | max DD | buy-and-hold CAGR | vol | Sharpe | max DD | strategy at B&H vol: CAGR | max DD | bear days | same label as regimes | Sharpe >= B&H and DD 3.2 pts shallower |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for f in "$here"/../../tests/finance/real/*.csv; do
    s=$(basename "$f" .csv)
    "$fin" --db "$tmp/r.db" -q regimes -o "$tmp/$s.regimes.csv" "$f" >/dev/null
    for fill in next-open next-close; do
        "$fin" --db "$tmp/r.db" --json backtest --fill "$fill" "$@" --signals-out "$tmp/$s.signals.csv" "$f" >"$tmp/$s.json"
        /usr/bin/python3 - "$s" "$fill" "$tmp/$s.json" "$tmp/$s.signals.csv" "$tmp/$s.regimes.csv" <<'PY'
import csv, json, sys
name, fill, res, sig, reg = sys.argv[1:]
d = json.load(open(res))
a, b, v = d["strategy"], d["buy_and_hold"], d["strategy_at_bh_vol"]
rows = list(csv.DictReader(open(sig)))
labels = {r["date"]: r["label"] for r in csv.DictReader(open(reg))}
common = [r for r in rows if r["date"] in labels]
same = sum(labels[r["date"]] == r["regime"] for r in common) / len(common)
bear = sum(r["regime"] == "bear" for r in rows) / len(rows)
ok = a["sharpe"] >= b["sharpe"] and a["max_drawdown"] - b["max_drawdown"] >= 0.032
pct = lambda x: f"{100 * x:.1f}%"
print(f"| {name} {d['first_date'][:4]}-{d['last_date'][:4]} | {fill} | {a['days']} | {pct(a['cagr'])} | {pct(a['annual_vol'])} | "
      f"{a['sharpe']:.2f} | {pct(a['max_drawdown'])} | {pct(b['cagr'])} | {pct(b['annual_vol'])} | {b['sharpe']:.2f} | "
      f"{pct(b['max_drawdown'])} | {pct(v['cagr'])} | {pct(v['max_drawdown'])} | {pct(bear)} | {pct(same)} | {'yes' if ok else 'no'} |")
PY
    done
done
