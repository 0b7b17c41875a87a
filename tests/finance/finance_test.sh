#!/usr/bin/env bash
# finance_test.sh: moe-finance factors end to end on the sample prices and on bad inputs:
# exit codes, CSV output, database rows, rejected files named with their line, the drop policy,
# idempotent re-runs, long files with a symbol column.
# Usage: finance_test.sh SOURCE_DIR MOE_FINANCE SCRATCH_DIR PYTHON
set -u
src=$1 fin=$2 scratch=$3 python=$4
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1" >&2; fi; }
sql() { "$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$@"; }
samples=$src/data/samples/finance/prices

# ---- the samples -----------------------------------------------------------------------------------
"$fin" --db f.db factors --store -o factors.csv "$samples" >out 2>err
rc=$?; check "samples: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "samples: one line per file" "[ \$(wc -l <out) = 3 ]"
nf=$(head -1 factors.csv | tr ',' '\n' | wc -l)
check "CSV header: date, symbol and at least 158 factors ($nf columns)" "[ $nf -ge 160 ]"
check "CSV rows: 3 symbols x 500 bars" "[ \$(wc -l <factors.csv) = 1501 ]"
check "CSV has rsi_14 and KMID" "head -1 factors.csv | grep -q ',KMID,' && head -1 factors.csv | grep -q ',rsi_14'"
check "first bar: rsi_14 empty while it warms up" "[ -z \"\$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if(\$i==\"rsi_14\") c=i} NR==2{print \$c}' factors.csv)\" ]"
rows=$(sql f.db "select count(*) from fin_factors")
check "database rows stored: one per symbol and bar ($rows)" "[ $rows = 1500 ]"
check "every symbol stored" "[ \"\$(sql f.db 'select group_concat(symbol) from (select distinct symbol from fin_factors order by 1)')\" = GBMA,GBMB,TTRC ]"
# a value in the database equals the CSV's
csv_val=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="sma_20") c=i} $2=="TTRC" && $1=="2006-12-29"{print $c}' factors.csv)
db_val=$(sql f.db "select printf('%.10g', sma_20) from fin_factors where symbol='TTRC' and date='2006-12-29'")
check "database value equals CSV value ($db_val vs $csv_val)" "[ -n \"$csv_val\" ] && [ \"$db_val\" = \"$csv_val\" ]"
check "latest view has one date per symbol" "[ \"\$(sql f.db 'select count(distinct symbol||date) from fin_latest_factors')\" = 3 ]"
# every value of the table is the CSV's, to its 10 digits, and NULL where the CSV's cell is empty
cmp_csv() { # DB CSV [FACTOR]: prints "compared mismatches", FACTOR left out
    "$python" - "$@" <<'PY'
import csv, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rows = list(csv.reader(open(sys.argv[2])))
head, done, bad = rows[0], 0, 0
names = [n for n in head[2:] if n not in sys.argv[3:]]
rows = [[r[i] for i in range(len(head)) if head[i] not in sys.argv[3:]] for r in rows]
db = {(r[0], r[1]): r[2:] for r in c.execute("select date, symbol, " + ", ".join('"%s"' % n for n in names) + " from fin_factors")}
for r in rows[1:]:
    got = db.get((r[0], r[1]))
    if got is None:
        bad += 1
        continue
    for cell, v in zip(r[2:], got):
        done += 1
        bad += cell != ("" if v is None else "%.10g" % v)
print(done, bad)
PY
}
read -r ncmp nbad <<<"$(cmp_csv f.db factors.csv)"
check "all 193 columns of every stored row equal the CSV's ($ncmp values, $nbad differ)" "[ $ncmp = 289500 ] && [ $nbad = 0 ]"
# storage of a symbol-day: the table's pages and its key's over its rows
per_day=$(sql f.db "select (select sum(pgsize) from dbstat where name in ('fin_factors', 'sqlite_autoindex_fin_factors_1')) / (select count(*) from fin_factors)" 2>/dev/null ||
          echo $(( $(stat -c %s f.db) / 1500 )))
check "storage per symbol-day under 2 KiB ($per_day bytes)" "[ $per_day -gt 1000 ] && [ $per_day -lt 2048 ]"
"$fin" --db f.db factors --store "$samples" >out 2>err
check "re-run: exit 0" "[ $? = 0 ]"
check "re-run adds no rows" "[ \"\$(sql f.db 'select count(*) from fin_factors')\" = $rows ] && grep -q 'GBMA.csv.1 symbol.500 bars.0 days stored' out"
check "runs recorded" "[ \"\$(sql f.db \"select count(*) from runs where program='moe-finance' and command='factors' and status='ok'\")\" = 2 ]"

# ---- bad inputs: each rejected with its line, the batch goes on ------------------------------------
mkdir bad
head -30 "$samples/TTRC.csv" >good.csv
hdr="date,open,high,low,close,volume"
printf '%s\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10,9,11,10,100\n' "$hdr" >bad/high_low.csv
printf '%s\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10,11,9,abc,100\n' "$hdr" >bad/nan.csv
printf '%s\n2024-01-03,10,11,9,10.5,100\n2024-01-02,10,11,9,10.5,100\n' "$hdr" >bad/unsorted.csv
printf '%s\n2024-01-02,10,11,9,10.5,100\n2024-01-02,10,11,9,10.5,100\n' "$hdr" >bad/duplicate.csv
printf '%s\n2024-01-02,10,11,9,10.5,100\n2024-02-30,10,11,9,10.5,100\n' "$hdr" >bad/date.csv
printf '%s\n2024-01-02,0,11,9,10.5,100\n' "$hdr" >bad/zero.csv
printf 'date,open,high,close,volume\n2024-01-02,10,11,10.5,100\n' >bad/no_low.csv
printf '' >bad/empty.csv
head -c 3000 /dev/urandom >bad/binary.csv
head -c 700 "$samples/TTRC.csv" >bad/truncated.csv
printf '%s\n2024-01-02,10,11,9,10.5,1%05000d\n' "$hdr" 0 >bad/long_line.csv
"$fin" --db f.db factors --store good.csv bad >out 2>err
check "bad inputs: exit 3" "[ $? = 3 ]"
check "good file still done" "grep -q '^good.csv' out"
for f in high_low:'line 3: high < low' nan:'line 3: a price is not a number' unsorted:'line 3: date before the previous row' \
         duplicate:'line 3: duplicate date' date:'line 3: invalid date' zero:'line 2: non-positive price' \
         no_low:"header has no 'low' column" empty:'empty file' long_line:'longer than 4096 bytes'; do
    name=${f%%:*} want=${f#*:}
    check "bad/$name.csv rejected: $want" "grep -q \"rejected: bad/$name.csv: .*$want\" err"
done
check "binary file rejected" "grep -q 'rejected: bad/binary.csv' err"
check "truncated file: rows before the cut are valid, the cut row is not" "grep -q 'rejected: bad/truncated.csv: line [0-9]*:' err"
nerr=$(sql f.db "select count(*) from input_errors e join runs r using(run_id) where r.status='partial'")
check "every rejection in input_errors ($nerr)" "[ $nerr = 11 ]"
check "nothing of a rejected file stored" "[ \"\$(sql f.db \"select count(*) from fin_factors where date >= '2024-01-01' and symbol not like 'GBM%'\")\" = 0 ]"

# ---- the drop policy ------------------------------------------------------------------------------------
"$fin" --db f.db factors --bad-rows drop bad/high_low.csv >out 2>err
check "drop policy: exit 0" "[ $? = 0 ]"
check "drop policy: the row is named" "grep -q 'warning: bad/high_low.csv: line 3: high < low (row dropped)' err"
"$fin" --db f.db factors --bad-rows skip good.csv >out 2>err
check "unknown policy: usage error" "[ $? = 2 ]"

# ---- a long file with a symbol column --------------------------------------------------------------------
{
    echo "symbol,date,open,high,low,close,volume"
    tail -n +2 "$samples/GBMA.csv" | head -40 | sed 's/^/AAA,/'
    tail -n +2 "$samples/GBMB.csv" | head -40 | sed 's/^/BBB,/'
} >long.csv
"$fin" --db f.db --json factors -o long_factors.csv long.csv >out 2>err
check "long file: exit 0" "[ $? = 0 ]"
check "long file: two symbols in the JSON result" "\"$python\" -c 'import json,sys; d=json.loads(open(\"out\").read()); assert d[\"symbols\"]==[\"AAA\",\"BBB\"] and d[\"bars\"]==80'"
check "long file: CSV rows per symbol" "[ \$(grep -c ',AAA,' long_factors.csv) = 40 ] && [ \$(grep -c ',BBB,' long_factors.csv) = 40 ]"
"$fin" --db f.db factors -o /nonexistent/dir/x.csv good.csv >out 2>err
check "unwritable output: exit 1 and no partial file" "[ $? = 1 ] && grep -q 'cannot write' err"
# temporary files: a killed run's is removed by the next run writing into that folder, a live one's stays
mkdir -p outdir
printf 'half' >outdir/.tmp-999999999-x.csv
printf 'busy' >"outdir/.tmp-$$-y.csv"
"$fin" --db f.db factors -o outdir/x.csv good.csv >out 2>err
check "a dead process's temporary file removed, a live one's kept, nothing of ours left" \
    "[ $? = 0 ] && [ ! -e outdir/.tmp-999999999-x.csv ] && [ -e outdir/.tmp-$$-y.csv ] && [ \"\$(ls -A outdir | grep -c '^.tmp-')\" = 1 ] && [ -s outdir/x.csv ]"
# an output that is not a regular file is written in place, never replaced by a rename
mkfifo out.fifo
timeout 60 cat out.fifo >from_fifo.csv &
reader=$!
"$fin" --db f.db factors -o out.fifo good.csv >out 2>err
rc=$?
wait $reader
check "-o FIFO: exit 0, the FIFO stays a FIFO, the CSV went through it" "[ $rc = 0 ] && [ -p out.fifo ] && cmp -s from_fifo.csv outdir/x.csv"

# ---- fundamentals: as of each date with a lag, z-scored across symbols ------------------------------------
printf 'date,symbol,pe,margin\n2024-03-01,GBMA,10,0.2\n2024-03-01,GBMB,30,\n2024-06-03,GBMB,20,0.1\n2024-06-03,GBMA,,0.3\n' >fund.csv
"$fin" --db f.db factors --store --rebuild --fundamentals fund.csv --lag 5 -o fund_factors.csv "$samples/GBMA.csv" "$samples/GBMB.csv" >out 2>err
rc=$?; check "fundamentals: exit 0 ($(head -c 200 err))" "[ $rc = 0 ]"
col() { awk -F, -v name="$1" -v sym="$2" -v date="$3" 'NR==1{for(i=1;i<=NF;i++) if($i==name) c=i} $1==date && $2==sym{print $c}' fund_factors.csv; }
check "fz columns in the header" "head -1 fund_factors.csv | grep -q ',fz_pe,fz_margin$'"
check "before the report plus lag: empty" "[ -z \"\$(col fz_pe GBMA 2024-03-05)\" ]"
check "after it: GBMA pe 10 vs 30 is -1" "[ \"\$(col fz_pe GBMA 2024-03-06)\" = -1 ] && [ \"\$(col fz_pe GBMB 2024-03-06)\" = 1 ]"
check "a later report replaces it, an empty cell keeps the last value" "[ \"\$(col fz_pe GBMA 2024-06-10)\" = -1 ] && [ \"\$(col fz_margin GBMA 2024-06-10)\" = 1 ]"
check "one symbol with a value: no z-score" "[ -z \"\$(col fz_margin GBMA 2024-03-06)\" ]"
check "fundamentals stored" "[ \"\$(sql f.db \"select value from fin_factor_fundamentals where symbol='GBMB' and date='2024-03-06' and factor='fz_pe'\")\" = 1.0 ]"
printf 'date,symbol,pe\n2024-03-01,GBMA,x\n' >badfund.csv
"$fin" --db f.db factors --fundamentals badfund.csv "$samples/GBMA.csv" >out 2>err
check "bad fundamentals: exit 1 naming file and line" "[ $? = 1 ] && grep -q \"badfund.csv: line 2: field 'pe' is not a finite number\" err"

# ---- regimes: the walk-forward regimes the book trades on, stored day by day, incrementally --------------
"$fin" --db f.db --json regimes --store -o regimes.csv "$samples" >out 2>err
rc=$?; check "regimes: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "regimes: a JSON object per symbol: 2 states, transitions rows summing to 1, one fit (500 bars, first fit at 252)" \
      "\"$python\" -c 'import json; r=[json.loads(l) for l in open(\"out\")]; assert len(r)==3 and all(len(d[\"states\"])==2 and d[\"fits\"]==1 and d[\"bic\"]>-2*d[\"loglik\"] and all(abs(sum(x)-1)<1e-9 for x in d[\"transitions\"]) and all(s[\"expected_days\"]>=20-1e-9 for s in d[\"states\"]) for d in r)'"
check "regimes: the labels follow the rule: bear only for the most volatile state, bull only with a positive mean and not the most volatile" \
      "\"$python\" -c 'import json; r=[json.loads(l) for l in open(\"out\")]; assert all(all((s[\"label\"]!=\"bear\" or s[\"var\"]==max(t[\"var\"] for t in d[\"states\"])) and (s[\"label\"]!=\"bull\" or (s[\"mean\"]>0 and s[\"var\"]<max(t[\"var\"] for t in d[\"states\"]))) for s in d[\"states\"]) for d in r)'"
cp out regimes.json
check "regimes: one CSV row per bar from the first fit on (3 x (500 - 252))" "[ \$(wc -l <regimes.csv) = 745 ]"
check "regimes: every such bar stored with a label and the hindsight label" "[ \"\$(sql f.db \"select count(*) from fin_regimes where label in ('bull','bear','sideways') and label_full in ('bull','bear','sideways')\")\" = 744 ]"
check "regimes: probabilities are probabilities" "[ \"\$(sql f.db 'select count(*) from fin_regimes where p_state < 0 or p_state > 1 or p_bull + p_bear > 1.000001 or pf_bull + pf_bear > 1.000001 or pf_bull < 0')\" = 0 ]"
check "regimes: the JSON's regime is the CSV's last label" \
      "\"$python\" -c 'import json,csv; r={d[\"symbol\"]:d[\"regime\"] for d in map(json.loads, open(\"regimes.json\"))}; last={x[\"symbol\"]:x[\"label\"] for x in csv.DictReader(open(\"regimes.csv\"))}; assert r==last, (r, last)'"
check "regimes: the latest regime of every symbol" "[ \"\$(sql f.db 'select count(*) from fin_latest_regimes')\" = 3 ]"
check "regimes: the walk's fits are kept (one per symbol)" "[ \"\$(sql f.db 'select count(*) from fin_regime_fits')\" = 3 ]"
"$fin" --db f.db --json backtest --signals-out agree.csv "$samples/TTRC.csv" >/dev/null 2>err
check "regimes and backtest: the same regime on every day" \
      "\"$python\" -c 'import csv; a={r[\"date\"]:r[\"label\"] for r in csv.DictReader(open(\"regimes.csv\")) if r[\"symbol\"]==\"TTRC\"}; b={r[\"date\"]:r[\"regime\"] for r in csv.DictReader(open(\"agree.csv\"))}; c=[d for d in b if d in a]; assert len(c)==248 and all(a[d]==b[d] for d in c)'"
"$fin" --db f.db regimes --states 2 -o since.csv "$samples" >since.out 2>err
check "regimes: 'REGIME since DATE' names the first day of the latest run of that label, not the last day" \
      "\"$python\" - since.csv since.out <<'PY'
import csv, re, sys
rows = {}
for r in csv.DictReader(open(sys.argv[1])):
    rows.setdefault(r['symbol'], []).append((r['date'], r['label']))
for line in open(sys.argv[2]):
    sym, label, since = re.match(r'(\\S+)\\t\\d states\\t(\\w+) since (\\S+) ', line).groups()
    path = rows[sym]
    i = len(path) - 1
    while i > 0 and path[i - 1][1] == path[-1][1]:
        i -= 1
    assert (label, since) == (path[-1][1], path[i][0]), (line, path[i])
assert len(rows) == 3
PY"
# incremental: a re-run stores nothing new and refits nothing; one more bar adds one row; --rebuild rewrites
first_run=$(sql f.db "select run_id from fin_regimes where symbol='TTRC' limit 1")
"$fin" --db f.db regimes --store "$samples" >out 2>err
check "regimes re-run: no row rewritten" "[ \"\$(sql f.db \"select count(*) from fin_regimes where run_id <> '$first_run' and symbol = 'TTRC'\")\" = 0 ] && [ \"\$(sql f.db 'select count(*) from fin_regimes')\" = 744 ]"
check "regimes re-run: no refit (the kept fits serve)" "[ \"\$(sql f.db 'select count(distinct run_id) from fin_regime_fits')\" = 1 ]"
cp "$samples/TTRC.csv" ttrc_more.csv
echo "2006-12-30,52.1,52.9,51.8,52.5,2000000" >>ttrc_more.csv
"$fin" --db f.db regimes --store ttrc_more.csv >out 2>err
check "regimes after one new bar: exactly one new row, the older ones untouched" \
      "[ \"\$(sql f.db \"select count(*) from fin_regimes where symbol='TTRC_MORE'\")\" = 249 ]"
"$fin" --db f.db regimes --store ttrc_more.csv >/dev/null 2>err
echo "2006-12-31,52.5,53.0,52.0,52.8,2000000" >>ttrc_more.csv
"$fin" --db f.db regimes --store --new-only -o new.csv ttrc_more.csv >out 2>err
check "regimes --new-only: the CSV holds the one row stored" "[ \$(wc -l <new.csv) = 2 ] && grep -q '^2006-12-31,TTRC_MORE,' new.csv"
check "regimes: the next bar adds one row written by its own run" \
      "[ \"\$(sql f.db \"select count(*) from fin_regimes where symbol='TTRC_MORE' and run_id = (select run_id from fin_regimes where symbol='TTRC_MORE' and date='2006-12-31')\")\" = 1 ]"
# a corrected close in the first year (the first fit's data): close = low
"$python" -c 'import sys; l=open(sys.argv[1]).read().split("\n"); f=l[101].split(","); f[4]=f[3]; l[101]=",".join(f); open(sys.argv[1],"w").write("\n".join(l))' ttrc_more.csv
"$fin" --db f.db regimes --store ttrc_more.csv >out 2>err
check "regimes: a changed history is reported and not rewritten" "[ $? = 0 ] && grep -q 'TTRC_MORE: the stored regime of 2006-12-31' err && grep -q -- '--rebuild' err"
head -400 ttrc_more.csv >ttrc_short.csv
mv ttrc_short.csv ttrc_more.csv.short
cp ttrc_more.csv ttrc_more.csv.full
cp ttrc_more.csv.short ttrc_more.csv
"$fin" --db f.db regimes --store ttrc_more.csv >out 2>err
check "regimes: a file ending before the last stored day is reported, nothing stored" \
      "[ $? = 0 ] && grep -q 'TTRC_MORE: the file ends on .*, before 2006-12-31, the last day stored' err && [ \"\$(sql f.db \"select count(*) from fin_regimes where symbol='TTRC_MORE'\")\" = 250 ]"
cp ttrc_more.csv.full ttrc_more.csv
"$fin" --db f.db regimes --store --rebuild ttrc_more.csv >out 2>err
check "regimes --rebuild: every row rewritten by that run" \
      "[ \"\$(sql f.db \"select count(distinct run_id) from fin_regimes where symbol='TTRC_MORE'\")\" = 1 ] && [ \"\$(sql f.db \"select count(*) from fin_regimes where symbol='TTRC_MORE'\")\" = 250 ]"
{ echo "$hdr"; for i in $(seq 0 399); do printf '%s,10,10,10,10,100\n' $(date -u -d "2020-01-01 + $i days" +%F); done; } >flat.csv
"$fin" --db f.db --json regimes --states 2 flat.csv >out 2>err
check "repeated prices: no crash, finite likelihood" "[ $? = 0 ] && \"$python\" -c 'import json,math; d=json.loads(open(\"out\").read()); assert math.isfinite(d[\"loglik\"])'"
"$fin" --db f.db regimes --states 4 good.csv >out 2>err
check "--states 4: usage error" "[ $? = 2 ] && grep -q 'states expects an integer from 2 to 3' err"
"$fin" --db f.db regimes --rebuild good.csv >out 2>err
check "--rebuild without --store: usage error" "[ $? = 2 ] && grep -q 'needs --store' err"
"$fin" --db f.db regimes --new-only good.csv >out 2>err
check "--new-only without --store: usage error" "[ $? = 2 ] && grep -q 'new-only concerns stored days' err"
"$fin" --db f.db regimes good.csv >out 2>err
check "a series shorter than the first fit: rejected by name" "[ $? = 3 ] && grep -q 'GOOD: 28 returns, the regime model needs 252' err"

# ---- regimes on real index histories (tests/finance/real, from R's data sets): known sell-offs are bear,
# long calm advances are not
"$fin" --db f.db regimes -o real.csv "$src/tests/finance/real" >out 2>err
rc=$?; check "regimes on real series: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
real=$("$python" - real.csv <<'PY'
import csv, sys
by = {}
for r in csv.DictReader(open(sys.argv[1])):
    by.setdefault(r["symbol"], []).append(r)
def bear(sym, a, b):
    x = [r for r in by[sym] if a <= r["date"] <= b]
    return sum(r["label"] == "bear" for r in x) / len(x)
out = []
# October 1987 to the end of November, on the Dow and on TTRC
out += [bear(s, "1987-10-19", "1987-11-30") >= 0.9 for s in ("DJIA8012", "TTRC")]
# September 2008 to the March 2009 low, on the Dow and the MSCI Switzerland
out += [bear(s, "2008-09-15", "2009-03-09") >= 0.8 for s in ("DJIA8012", "MSCISWITZERLAND")]
# the summer 2002 sell-off
out += [bear(s, "2002-06-15", "2002-10-15") >= 0.75 for s in ("DJIA8012", "MSCISWITZERLAND", "TTRC")]
# August 1998: most European indices
out += [sum(bear(s, "1998-08-04", "1998-08-14") >= 0.8 for s in ("DAX", "SMI", "CAC", "FTSE")) >= 3]
# calm advances: 1995-96 everywhere, 2004-06 on the Dow and the MSCI Switzerland
out += [bear(s, "1995-01-01", "1996-12-31") <= 0.10 for s in ("DJIA8012", "TTRC", "DAX", "SMI", "CAC", "FTSE")]
out += [bear(s, "2004-01-01", "2006-12-31") <= 0.05 for s in ("DJIA8012", "MSCISWITZERLAND", "TTRC")]
print(sum(out), len(out))
PY
)
check "regimes on real series: sell-offs bear, calm advances not ($real of the checks)" "[ \"$(echo $real | awk '{print ($1 == $2)}')\" = 1 ]"
"$fin" --db f.db --json regimes --states 3 -o real3.csv "$src/tests/finance/real/DJIA8012.csv" >out 2>err
rc=$?; check "regimes --states 3 on the Dow: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "regimes --states 3: a bull, a sideways and a bear state in force; bear on 19 October-30 November 1987, not in 1995-96" \
      "\"$python\" - out real3.csv <<'PY'
import csv, json, sys
d = json.load(open(sys.argv[1]))
assert sorted(s['label'] for s in d['states']) == ['bear', 'bull', 'sideways'], d['states']
rows = list(csv.DictReader(open(sys.argv[2])))
def bear(a, b):
    x = [r for r in rows if a <= r['date'] <= b]
    return sum(r['label'] == 'bear' for r in x) / len(x)
assert bear('1987-10-19', '1987-11-30') >= 0.9 and bear('1995-01-01', '1996-12-31') <= 0.05
PY"

# ---- the forecaster: learns a planted signal, forecasts, refuses bad model files ----------------------------
# four symbols whose daily return follows an AR(1) with coefficient 0.4: tomorrow's return is
# predictable from today's (visible in KMID, since each bar opens at the previous close)
# make_ar DIR SEED SYMBOLS FIRST_DATE DAYS: one price file per symbol letter, DIR/AR<letter>.csv
make_ar() {
    mkdir "$1"
    "$python" - "$@" <<'PY'
import datetime, math, random, sys
out, seed, symbols, first, days = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
random.seed(seed)
for s in symbols:
    c, r = 50.0, 0.0
    with open(f"{out}/AR{s}.csv", "w") as f:
        f.write("date,open,high,low,close,volume\n")
        day = datetime.date.fromisoformat(first)
        for t in range(days):
            r = 0.4 * r + random.gauss(0, 0.01)
            o, c = c, c * math.exp(r)
            hi, lo = max(o, c) * (1 + abs(random.gauss(0, 0.003))), min(o, c) * (1 - abs(random.gauss(0, 0.003)))
            f.write(f"{day.isoformat()},{o:.6f},{hi:.6f},{lo:.6f},{c:.6f},{random.randint(1000, 2000)}\n")
            day += datetime.timedelta(days=1)
PY
}
make_ar ar 7 ABCD 2020-01-01 900
"$fin" --db f.db --json train -o ar.model --epochs 40 ar >out 2>err
rc=$?; check "train: exit 0 ($(head -c 300 err))" "[ $rc = 0 ] && [ -s ar.model ]"
check "train: the planted signal is found (validation IC > 0.25, hit rate > 0.56; chance gives 0 and 0.5 +- 0.02, the best possible about 0.4 and 0.63)" \
      "\"$python\" -c 'import json; d=json.loads(open(\"out\").read()); print(d); assert d[\"val_ic\"] > 0.25 and d[\"val_hit_rate\"] > 0.56'"
check "train: both baselines measured on the same rows find the signal too (ridge and dense MLP IC > 0.25)" \
      "\"$python\" -c 'import json; v=json.loads(open(\"out\").read())[\"validation\"]; assert all(v[m][\"ic\"] > 0.25 and abs(v[m][\"rank_ic\"] - v[m][\"ic\"]) < 0.1 and 0 < v[m][\"mse\"] for m in (\"moe\", \"ridge\", \"mlp\"))'"
"$fin" --db f.db --json train -o ar_wf.model --epochs 12 --walk-forward 150 ar >wf.json 2>err
rc=$?; check "train --walk-forward: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "train --walk-forward: blocks predicted out of sample find the signal (IC > 0.2 for the MoE and both baselines)" \
      "$python -c 'import json,sys; w=json.load(open(\"wf.json\"))[\"validation\"][\"walk_forward\"]; print(w, file=sys.stderr); sys.exit(not (w[\"folds\"] >= 3 and w[\"rows\"] > 1500 and all(w[k][\"ic\"] > 0.2 for k in (\"moe\", \"ridge\", \"mlp\"))))'"
check "train: the model is recorded" "[ \"\$(sql f.db \"select horizon || ' ' || (val_ic > 0.25) from fin_models where path='ar.model'\")\" = '1 1' ]"
"$python" -c 'import json,struct,sys; f=open("ar.model","rb"); n=struct.unpack("<Q",f.read(8))[0]; h=json.loads(f.read(n)); print(json.dumps(h["__metadata__"]))' >meta.out
check "the model file describes itself (architecture, features, statistics, horizon)" \
      "grep -q 'moesuite.arch' meta.out && grep -q 'fin.features' meta.out && grep -q 'fin.horizon' meta.out"
"$fin" --db f.db --json forecast --model ar.model --store -o forecasts.csv ar >out 2>err
check "forecast: exit 0 and one forecast per symbol" "[ $? = 0 ] && [ \$(wc -l <out) = 4 ]"
check "forecast: stored" "[ \"\$(sql f.db 'select count(*) from fin_latest_forecasts')\" = 4 ]"
"$fin" --db f.db forecast --model ar.model --all -o all.csv "$samples/TTRC.csv" >out 2>err
check "forecast --all: a row per bar with inputs" "[ \$(wc -l <all.csv) -gt 400 ]"
head -c 1000 ar.model >trunc.model
"$fin" --db f.db forecast --model trunc.model ar >out 2>err
check "truncated model: exit 1 with a clear message" "[ $? = 1 ] && grep -q 'trunc.model' err"
"$fin" --db f.db forecast --model f.db ar >out 2>err
check "a database given as model: exit 1" "[ $? = 1 ] && grep -q 'f.db' err"
"$fin" --db f.db forecast ar >out 2>err
check "forecast without --model: usage error" "[ $? = 2 ]"

# ---- incremental store: a re-run stores the new days only; a changed past is reported, --rebuild rewrites ----
mkdir inc
head -401 "$samples/GBMA.csv" >inc/GBMA.csv
head -401 "$samples/GBMB.csv" >inc/GBMB.csv
new_day=$(sed -n 402p "$samples/GBMA.csv" | cut -d, -f1)
count() { sql inc.db "select count(*) from $1"; }
last_run() { sql inc.db "select run_id from runs where command = '$1' order by started_at desc limit 1"; }
"$fin" --db inc.db factors --store -o inc1.csv inc >out 2>err
rc=$?
run1=$(last_run factors)
check "first run: 2 x 400 days stored ($(head -c 200 err))" "[ $rc = 0 ] && [ \$(count fin_factors) = 800 ] && [ \$(grep -c '400 days stored' out) = 2 ]"
"$fin" --db inc.db forecast --model ar.model --all --store -o incf1.csv inc >out 2>err
rc=$?
nfc=$(count fin_forecasts)
check "forecast --all --store: one forecast per bar with inputs ($nfc)" "[ $rc = 0 ] && [ $nfc -gt 600 ] && [ $nfc = \$((\$(wc -l <incf1.csv) - 1)) ]"
frun1=$(last_run forecast)
sed -n 402p "$samples/GBMA.csv" >>inc/GBMA.csv
sed -n 402p "$samples/GBMB.csv" >>inc/GBMB.csv
"$fin" --db inc.db factors --store --new-only -o inc2.csv inc >out 2>err
rc=$?
run2=$(last_run factors)
check "a new bar: exit 0, one day stored per symbol" "[ $rc = 0 ] && [ \$(grep -c '401 bars.1 day stored' out) = 2 ]"
check "a new bar: 802 rows, the first run's 800 untouched, the new day's two of the second run" \
      "[ \$(count fin_factors) = 802 ] && [ \$(count \"fin_factors where run_id = '$run1'\") = 800 ] && [ \$(count \"fin_factors where run_id = '$run2' and date = '$new_day'\") = 2 ]"
check "--new-only: the CSV holds the header and the two new rows" "[ \$(wc -l <inc2.csv) = 3 ] && [ \$(grep -c \"^$new_day,\" inc2.csv) = 2 ]"
"$fin" --db inc.db factors -o inc_full.csv inc >/dev/null 2>&1
check "the new rows are the full computation's, bit for bit in the CSV" "[ \"\$(grep \"^$new_day,\" inc_full.csv)\" = \"\$(tail -2 inc2.csv)\" ]"
# (but sar: TTR starts it from the whole series' range, so a stored day keeps the SAR of the bars known then)
read -r ncmp nbad <<<"$(cmp_csv inc.db inc_full.csv sar)"
check "every stored value equals the full CSV's ($ncmp values, $nbad differ)" "[ $ncmp = \$((802 * 192)) ] && [ $nbad = 0 ]"
check "fin_latest_factors: the new day for each symbol" "[ \"\$(sql inc.db 'select group_concat(date) from fin_latest_factors')\" = \"$new_day,$new_day\" ]"
set_status() { "$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("update runs set status = ? where run_id = ?", sys.argv[2:]); c.commit()' inc.db "$@"; }
set_status running "$run2"
old_day=$(sed -n 401p "$samples/GBMA.csv" | cut -d, -f1)
check "fin_latest_factors: a run not finished is left out" "[ \"\$(sql inc.db 'select group_concat(date) from fin_latest_factors')\" = \"$old_day,$old_day\" ]"
set_status ok "$run2"
"$fin" --db inc.db forecast --model ar.model --all --store --new-only -o incf2.csv inc >out 2>err
rc=$?
frun2=$(last_run forecast)
check "forecast after a new bar: one new forecast per symbol, the old ones untouched" \
      "[ $rc = 0 ] && [ \$(count fin_forecasts) = \$(($nfc + 2)) ] && [ \$(count \"fin_forecasts where run_id = '$frun1'\") = $nfc ] && [ \$(count \"fin_forecasts where run_id = '$frun2' and date = '$new_day'\") = 2 ] && [ \$(wc -l <incf2.csv) = 3 ]"
"$fin" --db inc.db factors --store -o inc3.csv inc >out 2>err
check "nothing new: nothing stored, the CSV without --new-only still holds every row" \
      "[ $? = 0 ] && [ \$(grep -c '0 days stored' out) = 2 ] && [ \$(wc -l <inc3.csv) = 803 ] && [ \$(count \"fin_factors where run_id = '$(last_run factors)'\") = 0 ]"
# a past close changed: reported with its date, nothing rewritten
changed=$(sed -n 101p inc/GBMA.csv | cut -d, -f1)
awk -F, -v OFS=, 'NR == 101 { $5 = $5 * 1.01; if ($5 > $3) $3 = $5 } { print }' inc/GBMA.csv >inc/x && mv inc/x inc/GBMA.csv
sed -n 403p "$samples/GBMA.csv" >>inc/GBMA.csv
before=$(sql inc.db "select group_concat(run_id || sma_20) from fin_factors where symbol = 'GBMA'")
"$fin" --db inc.db factors --store inc >out 2>err
rc=$?
check "a changed past: exit 0, a warning naming GBMA and $changed, advising --rebuild ($(head -c 300 err))" \
      "[ $rc = 0 ] && grep -q \"warning: GBMA: the bars stored up to $new_day differ from the file's from $changed on: nothing stored; give --rebuild\" err"
check "a changed past: GBMA's rows as they were, not even the new day stored; GBMB untouched too" \
      "[ \"\$(sql inc.db \"select group_concat(run_id || sma_20) from fin_factors where symbol = 'GBMA'\")\" = \"$before\" ] && [ \$(count fin_factors) = 802 ]"
"$fin" --db inc.db forecast --model ar.model --all --store inc >out 2>err
check "forecast, a changed past: the same warning, nothing stored" \
      "[ $? = 0 ] && grep -q \"warning: GBMA (forecasts of ar.model, 1-day): the bars stored up to $new_day differ from the file's from $changed on\" err && [ \$(count fin_forecasts) = \$(($nfc + 2)) ]"
"$fin" --db inc.db factors --store --rebuild inc/GBMA.csv >out 2>err
rc=$?
run4=$(last_run factors)
check "--rebuild: all 402 days of GBMA rewritten by the new run, GBMB's left" \
      "[ $rc = 0 ] && [ \$(count \"fin_factors where symbol = 'GBMA' and run_id = '$run4'\") = 402 ] && [ \$(count \"fin_factors where symbol = 'GBMB' and run_id = '$run4'\") = 0 ]"
"$fin" --db inc.db factors -o inc_full2.csv inc/GBMA.csv >/dev/null 2>&1
read -r ncmp nbad <<<"$(cmp_csv inc.db inc_full2.csv)"
check "--rebuild: the rows are the changed file's ($ncmp values, $nbad differ)" "[ $ncmp = \$((402 * 193)) ] && [ $nbad = 0 ]"
"$fin" --db inc.db forecast --model ar.model --all --store --rebuild inc/GBMA.csv >out 2>err
check "forecast --rebuild: GBMA's forecasts all of the new run" \
      "[ $? = 0 ] && [ \$(count \"fin_forecasts where symbol = 'GBMA' and run_id <> '$(last_run forecast)'\") = 0 ] && [ \$(count \"fin_forecasts where symbol = 'GBMA'\") -gt 300 ]"
head -301 inc/GBMA.csv >inc/x && mv inc/x inc/GBMA.csv
"$fin" --db inc.db factors --store inc/GBMA.csv >out 2>err
check "a file ending before the last stored day: a warning, nothing stored" \
      "[ $? = 0 ] && grep -q 'warning: GBMA: the file ends on .*, before 2025-07-15, the last day stored: nothing stored; give --rebuild' err && [ \$(count \"fin_factors where symbol = 'GBMA'\") = 402 ] && grep -q '0 days stored' out"
"$fin" --db inc.db factors --rebuild inc >out 2>err
check "--rebuild without --store: usage error" "[ $? = 2 ] && grep -q 'rebuild goes with --store' err"

# ---- the generated regime-switching set: the HMM finds the known market regimes ---------------------------
rs=$src/data/samples/finance
"$fin" --db f.db regimes --states 2 -o rs.csv "$rs/regimes" >out 2>err
rc=$?; check "regimes on the generated set: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
acc=$("$python" - "$rs/regimes_truth.csv" rs.csv <<'PY'
import csv, sys
truth = {r["date"]: r["regime"] for r in csv.DictReader(open(sys.argv[1]))}
hits = {}
for r in csv.DictReader(open(sys.argv[2])):
    h = hits.setdefault(r["symbol"], [0, 0, 0])
    h[0] += r["label"] == truth[r["date"]]
    h[1] += 1
    h[2] += r["label_full"] == truth[r["date"]]
print(" ".join(f"{s}={h[0] / h[1]:.3f}/{h[2] / h[1]:.3f}" for s, h in sorted(hits.items())), min(h[0] / h[1] for h in hits.values()),
      min(h[2] / h[1] for h in hits.values()))
PY
)
check "regimes: every symbol's walk-forward label matches the true regime on >= 85% of days, the hindsight label on >= 90% ($acc)" \
      "[ \$(echo '$acc' | wc -w) = 8 ] && awk 'BEGIN{exit !($(echo $acc | awk '{print $(NF-1)}') >= 0.85 && $(echo $acc | awk '{print $NF}') >= 0.90)}'"

# ---- backtests: statistics, signals, chart, database; a forecaster out of sample; bad requests --------------
"$fin" --db f.db --json backtest --store --signals-out sig.csv --chart bt.png "$samples/TTRC.csv" >bt.json 2>err
rc=$?; check "backtest: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "backtest: strategy and buy-and-hold measured on the same days" \
      "$python -c 'import json,sys; j=json.load(open(\"bt.json\")); s,b=j[\"strategy\"],j[\"buy_and_hold\"]; sys.exit(not (s[\"days\"]==b[\"days\"]>200 and s[\"trades\"]>0 and -1<s[\"max_drawdown\"]<=0 and b[\"trades\"]==0))'"
check "backtest: it starts on the first day with regimes (a year in)" "grep -q '\"first_date\":\"2006-01-06\"' bt.json"
check "backtest: signals CSV header" "[ \"\$(head -1 sig.csv)\" = date,symbol,regime,p_bull,forecast,target_weight,stop ]"
check "backtest: long or flat, within the leverage cap" "awk -F, 'NR>1 && (\$6<0 || \$6>1){bad=1} END{exit bad}' sig.csv"
check "backtest: a PNG chart" "[ \"\$(head -c 4 bt.png | tail -c 3)\" = PNG ]"
check "backtest: stored, strategy and buy-and-hold" "[ \"\$(sql f.db 'select count(*) from fin_backtests')\" = 2 ]"
"$fin" --db f.db backtest --store "$samples/TTRC.csv" >/dev/null 2>&1
check "backtest: the same run again adds no rows" "[ \"\$(sql f.db 'select count(*) from fin_backtests')\" = 2 ]"
# signals before a date do not change when later bars arrive
mkdir -p btcut && head -401 "$samples/TTRC.csv" >btcut/TTRC.csv
"$fin" --db f.db backtest --signals-out cut_sig.csv btcut/TTRC.csv >/dev/null 2>&1
n_sig=$(wc -l <cut_sig.csv)
check "backtest: every signal up to the cut is bit-identical ($n_sig rows)" \
      "[ $n_sig -gt 100 ] && [ \"\$(md5sum <cut_sig.csv)\" = \"\$(head -$n_sig sig.csv | md5sum)\" ]"
# the AR(1) forecaster on fresh series dated after its training data: trades them long/short out of sample
make_ar ar_oos 11 EF 2021-01-01 800
"$fin" --db f.db --json backtest --model ar.model --long-short --regime-scale 1,1,1 ar_oos >oos.json 2>err
rc=$?; check "backtest --model: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "backtest --model: starts after the last training row of the model (2022-06-17)" \
      "$python -c 'import json,sys; sys.exit(not json.load(open(\"oos.json\"))[\"first_date\"] > \"2022-06-17\")'"
check "backtest --model: the planted signal pays after costs (Sharpe > 1.5; random signs give about 0)" \
      "$python -c 'import json,sys; s=json.load(open(\"oos.json\"))[\"strategy\"]; sys.exit(not (s[\"sharpe\"] > 1.5 and s[\"trades\"] > 20))'"
"$fin" --db f.db backtest --model ar.model ar >out 2>err
rc=$?
check "backtest --model on the model's own training data: exit 1, naming the first day after it as a date ($(head -c 300 err))" \
      "[ $rc = 1 ] && grep -q '1 trading day between 2022-06-18 and the last date' err && ! grep -q '~' err"
"$fin" --db f.db train --end 2021-12-31 --epochs 3 -o ar_end.model ar >out 2>err
rc=$?
check "train --end: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "train --end 2021-12-31: the last training row is the day before, whose target is that day's close" \
      "$python -c 'import json,struct,sys; f=open(\"ar_end.model\",\"rb\"); n=struct.unpack(\"<Q\", f.read(8))[0]; m=json.loads(f.read(n))[\"__metadata__\"]; sys.exit(m[\"fin.dates\"] != \"2020-03-01..2021-12-30\")'"
"$fin" --db f.db --json backtest --model ar_end.model ar >end.json 2>err
rc=$?
check "backtest with a model of train --end 2021-12-31: exit 0, the book opens on that day ($(head -c 300 err))" \
      "[ $rc = 0 ] && $python -c 'import json,sys; sys.exit(json.load(open(\"end.json\"))[\"first_date\"] != \"2021-12-31\")'"
"$fin" --db f.db train --end 2021-12-32 -o bad.model ar >out 2>err
check "train --end with an invalid date: usage error" "[ $? = 2 ] && grep -q 'end expects a date' err && [ ! -e bad.model ]"
"$fin" --db f.db backtest --start 2006-13-01 "$samples/TTRC.csv" >out 2>err
check "backtest --start 2006-13-01: usage error" "[ $? = 2 ] && grep -q 'start expects a date' err"
"$fin" --db f.db backtest --start 2006-06-01 --end 2006-01-01 "$samples/TTRC.csv" >out 2>err
check "backtest: start after end is a usage error" "[ $? = 2 ]"
"$fin" --db f.db backtest "$samples/TTRC.csv" good.csv >out 2>err
check "backtest: a series too short for the regime model is rejected by name, the rest is traded (exit 3)" \
      "[ $? = 3 ] && grep -q 'good.csv' err && grep -q 'strategy' out"

# ---- regime probabilities as forecaster inputs ---------------------------------------------------------------
"$fin" --db f.db train --regimes -o ar_reg.model --epochs 5 ar >out 2>err
rc=$?; check "train --regimes: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "train --regimes: the model lists the regime inputs" \
      "$python -c 'import json,struct,sys; f=open(\"ar_reg.model\",\"rb\"); n=struct.unpack(\"<Q\", f.read(8))[0]; m=json.loads(f.read(n))[\"__metadata__\"]; sys.exit(json.loads(m[\"fin.features\"])[-2:] != [\"regime_p_bull\", \"regime_p_bear\"])'"
"$fin" --db f.db forecast --model ar_reg.model --all -o reg_full.csv "$samples/TTRC.csv" >/dev/null 2>&1
"$fin" --db f.db forecast --model ar_reg.model --all -o reg_cut.csv btcut/TTRC.csv >/dev/null 2>&1
n_reg=$(wc -l <reg_cut.csv)
check "forecasts with regime inputs start after the regime model's first year and do not change with later bars ($n_reg rows)" \
      "[ $n_reg -gt 100 ] && [ \"\$(head -2 reg_cut.csv | tail -1 | cut -d, -f1)\" = \"\$(sed -n 254p $samples/TTRC.csv | cut -d, -f1)\" ] && [ \"\$(md5sum <reg_cut.csv)\" = \"\$(head -$n_reg reg_full.csv | md5sum)\" ]"

# ---- chosen inputs and the MoE layer's shape -----------------------------------------------------------------
"$fin" --db f.db train --features KMID,ROC5,STD20 --regimes --experts 4 --top-k 1 --expert-width 16 -o ar_feat.model --epochs 3 ar >out 2>err
rc=$?; check "train --features: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "train --features --regimes: the model's inputs are the three named and the two regime probabilities, in order" \
      "$python -c 'import json,struct,sys; f=open(\"ar_feat.model\",\"rb\"); n=struct.unpack(\"<Q\", f.read(8))[0]; m=json.loads(f.read(n))[\"__metadata__\"]; sys.exit(json.loads(m[\"fin.features\"]) != [\"KMID\", \"ROC5\", \"STD20\", \"regime_p_bull\", \"regime_p_bear\"])'"
check "train --experts 4 --top-k 1 --expert-width 16: the saved network has that MoE layer, its one gate not renormalised (so the router learns from the forecast error)" \
      "$python -c 'import json,struct,sys; f=open(\"ar_feat.model\",\"rb\"); n=struct.unpack(\"<Q\", f.read(8))[0]; h=json.loads(f.read(n)); a=json.loads(h[\"__metadata__\"][\"moesuite.arch\"]); l=[x for x in a[\"layers\"] if x[\"type\"]==\"moe\"][0]; sys.exit((l[\"experts\"], l[\"top_k\"], l[\"d_ff\"], l.get(\"norm_topk\")) != (4, 1, 16, False))'"
"$fin" --db f.db forecast --model ar_feat.model -o feat_fc.csv ar >/dev/null 2>err
check "forecast with a model of chosen inputs: one forecast per symbol ($(head -c 200 err))" "[ \$(wc -l <feat_fc.csv) = 5 ]"
"$fin" --db f.db train --features KMID,NOPE -o bad.model ar >out 2>err
check "train --features with an unknown name: usage error naming it" "[ $? = 2 ] && grep -q 'NOPE' err && [ ! -e bad.model ]"
"$fin" --db f.db train --features KMID,KMID -o bad.model ar >out 2>err
check "train --features with a repeated name: usage error" "[ $? = 2 ] && grep -q 'twice' err"
"$fin" --db f.db train --experts 2 --top-k 3 -o bad.model ar >out 2>err
check "train --top-k above --experts: usage error" "[ $? = 2 ] && grep -q 'top-k' err"

# ---- the nightly run: tomorrow's positions, the same decisions as the backtest -------------------------------
"$fin" --db f.db run --charts charts -o positions.csv "$samples" >out 2>err
rc=$?; check "run: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "run: one position per symbol stored" "[ \"\$(sql f.db 'select count(*) from fin_latest_positions')\" = 3 ]"
check "run: one chart per symbol" "[ \$(ls charts/*.png | wc -l) = 3 ]"
check "run: positions CSV, a header and 3 rows" "[ \$(wc -l <positions.csv) = 4 ]"
"$fin" --db f.db run "$samples" >/dev/null 2>&1
check "run: again the same day adds no position" "[ \"\$(sql f.db 'select count(*) from fin_positions')\" = 3 ]"
"$fin" --db f.db run -o ttrc_pos.csv "$samples/TTRC.csv" >/dev/null 2>&1
run_w=$(awk -F, 'NR==2{print $7}' ttrc_pos.csv)
bt_w=$(awk -F, 'END{print $6}' sig.csv)
check "run: TTRC's target equals the backtest's decision at the last close ($run_w vs $bt_w)" "[ -n \"$run_w\" ] && [ \"$run_w\" = \"$bt_w\" ]"

# the sample forecaster, trained up to 2025-06-30: the command of docs/finance.md trades the days after
model=$src/data/samples/finance/forecaster.safetensors
"$fin" --db f.db run --model "$model" -o sample_pos.csv "$samples" >out 2>err
rc=$?
check "run with the sample forecaster: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "run with the sample forecaster: a position for GBMA and GBMB at their last close" \
      "[ \"\$(cut -d, -f1,2 sample_pos.csv | tr '\\n' ' ')\" = 'date,symbol 2025-11-28,GBMA 2025-11-28,GBMB ' ]"
check "run with the sample forecaster: TTRC, which ends in 2006, is left out with a warning naming it and its dates" \
      "grep -q 'warning: TTRC: no bar between 2025-06-30 and the last date (its bars run from 2005-01-06 to 2006-12-29)' err && ! grep -q '~' err"
"$fin" --db f.db backtest --model "$model" --signals-out sample_sig.csv "$samples" >out 2>err
n_pos=$(awk -F, 'NR > 1 && $6 != 0' sample_sig.csv | wc -l)
check "backtest with the sample forecaster: out of sample from 2025-06-30, positions taken where the rules call for them ($n_pos days)" \
      "[ \"\$(sed -n 2p sample_sig.csv | cut -d, -f1)\" = 2025-06-30 ] && [ $n_pos -gt 5 ]"
"$fin" --db f.db run --model "$model" "$samples/TTRC.csv" >out 2>err
check "run with the sample forecaster on TTRC alone: exit 1, nothing after the training data, said with the dates" \
      "[ $? = 1 ] && grep -q 'trained on data up to 2025-06-27, and no price is later' err"
# the sample forecaster is what the command of data/samples/finance/README.md writes, byte for byte
# (it pins OpenBLAS's x86-64 AVX2 kernels, so the check needs them)
if grep -q avx2 /proc/cpuinfo; then
    "$python" - "$src" "$fin" <<'PY' >regen.out 2>&1
import os, re, shlex, subprocess, sys
src, fin = sys.argv[1], sys.argv[2]
text = open(os.path.join(src, "data/samples/finance/README.md")).read()
block = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "forecaster.safetensors" in b][0]
words = shlex.split(block.replace("\\\n", " "))
env = dict(os.environ)
while "=" in words[0]:
    k, v = words.pop(0).split("=", 1)
    env[k] = v
assert words[0] == "build/apps/moe-finance", words
argv = [fin] + words[1:]
argv[argv.index("--db") + 1] = os.path.abspath("regen.db")
argv[argv.index("-o") + 1] = os.path.abspath("regen.safetensors")
subprocess.run(argv, cwd=src, env=env, check=True, stdout=subprocess.DEVNULL)
PY
    check "the README's command regenerates the sample forecaster byte for byte ($(tail -c 300 regen.out))" \
          "cmp regen.safetensors \"$model\""
fi

# a symbol read from an input never becomes a path outside the chart folder
mkdir -p hostile/a/b
{ echo "symbol,date,open,high,low,close,volume"; tail -n +2 "$samples/GBMA.csv" | sed 's|^|../../x,|'; } >hostile/prices.csv
"$fin" --db f.db run --charts hostile/a/b/charts hostile/prices.csv >out 2>err
rc=$?
check "run --charts, symbol ../../x: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "run --charts, symbol ../../x: no file written above the chart folder" "[ ! -e hostile/a/x.png ] && [ -z \"\$(find hostile -name '*.png' ! -path 'hostile/a/b/charts/*')\" ]"
check "run --charts, symbol ../../x: its one chart is in the chart folder under a safe name" \
      "[ \$(ls hostile/a/b/charts | wc -l) = 1 ] && ls hostile/a/b/charts | grep -qE '^_\._\.\._x-[0-9a-f]{16}\.png$'"

# ---- no look-ahead: cutting the input after a date changes nothing before it ------------------------------
mkdir cut full
cp "$samples/TTRC.csv" full/TTRC.csv
head -301 "$samples/TTRC.csv" >cut/TTRC.csv
"$fin" --db f.db factors -o full.csv full/TTRC.csv >/dev/null 2>&1
"$fin" --db f.db factors -o cut.csv cut/TTRC.csv >/dev/null 2>&1
# every factor but sar (TTR starts SAR from the whole series' range: documented in docs/finance.md)
drop_sar() { awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="sar") c=i} {$c=""; print}' OFS=, "$1"; }
check "factors: the first 300 bars are bit-identical with and without the later bars" \
      "[ \"\$(drop_sar cut.csv | md5sum)\" = \"\$(drop_sar full.csv | head -301 | md5sum)\" ]"
"$fin" --db f.db forecast --model ar.model --all -o full_fc.csv full/TTRC.csv >/dev/null 2>&1
"$fin" --db f.db forecast --model ar.model --all -o cut_fc.csv cut/TTRC.csv >/dev/null 2>&1
n_cut=$(wc -l <cut_fc.csv)
check "forecasts: every forecast from the first 300 bars is bit-identical ($n_cut rows)" \
      "[ $n_cut -gt 100 ] && [ \"\$(md5sum <cut_fc.csv)\" = \"\$(head -$n_cut full_fc.csv | md5sum)\" ]"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
