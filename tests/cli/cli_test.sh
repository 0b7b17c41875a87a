#!/usr/bin/env bash
# cli_test.sh: end-to-end checks of the command-line plumbing shared by every program: help,
# version, usage errors and exit codes, the run lifecycle in the database (one transaction per
# input, rejected inputs, idempotent re-runs), --json output, progress bar, metrics file.
# Usage: cli_test.sh SCRATCH_DIR PYTHON FIXTURE PROGRAM...
set -u
scratch=$1 python=$2 fixture=$3
shift 3
programs=("$@")
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1

passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
# expect CODE NAME -- COMMAND...: runs COMMAND, keeps its stdout/stderr in out/err, checks the code
expect() {
    local want=$1 name=$2; shift 3
    "$@" >out 2>err </dev/null
    local got=$?
    if [ "$got" = "$want" ]; then ok; else bad "$name: exit $got, expected $want; stderr: $(head -c 400 err)"; fi
}
has() { if grep -q -- "$2" "$1"; then ok; else bad "$3: '$2' not in $1: $(head -c 400 "$1")"; fi; }
lines() { local n; n=$(wc -l <"$1"); if [ "$n" = "$2" ]; then ok; else bad "$3: $1 has $n lines, expected $2"; fi; }
sql() { "$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$@"; }
eq() { if [ "$1" = "$2" ]; then ok; else bad "$3: got '$1', expected '$2'"; fi; }

# ---- every program: help, version, usage errors ------------------------------------------------
for p in "${programs[@]}" "$fixture"; do
    name=$(basename "$p")
    expect 0 "$name --help" -- "$p" --help
    has out "^Usage: $name " "$name --help"
    has out "--db PATH .*(default: moesuite.db)" "$name --help shows defaults"
    has out "^Exit status: 0" "$name --help documents exit codes"
    has out "^      --device cpu|cuda|auto  *compute device; the networks run on the CPU in this version: auto uses the CPU, cuda is an error (default: auto)$" \
        "$name --help: what --device auto does, as docs/cli.md says"
    expect 0 "$name -h" -- "$p" -h
    expect 0 "$name --version" -- "$p" --version
    has out "^$name [0-9]\+\.[0-9]\+\.[0-9]\+$" "$name --version"
    has out "^build: .*CUDA \(on\|off\).*SQLite 3" "$name --version build line"
    expect 2 "$name --bogus" -- "$p" --bogus
    lines err 1 "$name --bogus prints one line"
    has err "unknown option '--bogus'" "$name --bogus message"
    expect 2 "$name without command" -- "$p"
    lines err 1 "$name without command prints one line"
    expect 2 "$name unknown command" -- "$p" frobnicate
    has err "unknown command 'frobnicate'" "$name unknown command message"
    expect 2 "$name --threads x" -- "$p" --threads x
    has err "threads expects an integer" "$name --threads message"
    expect 2 "$name --device tpu" -- "$p" --device tpu run
done

# the help's --device line and docs/cli.md say the same
docs=$(cd "$(dirname "$0")/../../docs" && pwd)/cli.md
has "$docs" "In this version the programs' networks run on the CPU: \`auto\` uses the CPU, and \`cuda\` is an error" \
    "docs/cli.md: --device auto uses the CPU"

# ---- a command: options, aligned help -----------------------------------------------------------
expect 0 "ingest --help" -- "$fixture" ingest --help
has out "^Usage: moe-fixture ingest \[options\] FILE...$" "ingest usage line"
has out "^      --delay-ms N  *pause after each line.*(default: 0)$" "ingest own option with default"
col_own=$(grep -- '--delay-ms' out | sed 's/pause.*//' | wc -c)
col_db=$(grep -- '--db PATH' out | sed 's/results.*//' | wc -c)
eq "$col_own" "$col_db" "option help columns aligned"
expect 0 "help ingest" -- "$fixture" help ingest
has out "^Usage: moe-fixture ingest" "help COMMAND"
expect 2 "ingest without files" -- "$fixture" ingest
has err "expected at least 1 argument" "ingest without files message"
expect 2 "ingest --delay-ms -1" -- "$fixture" ingest --delay-ms -1 a
has err "^moe-fixture ingest: --delay-ms expects an integer from 0 to 10000, got '-1'" "bad option value"
expect 2 "ingest -x" -- "$fixture" ingest -x a
has err "unknown option '-x'" "unknown short option"
expect 2 "ingest --db" -- "$fixture" ingest a --db
has err "option '--db' needs an argument" "missing option argument"

# ---- a batch: good inputs, a rejected input, idempotent re-run ---------------------------------
printf 'a,1\nb,2.5\n' >good1.csv
printf 'c,3\n' >good2.csv
printf 'x,9\ny,oops\nz,1\n' >bad.csv
expect 0 "ingest good" -- "$fixture" --db t.db ingest good1.csv good2.csv
has out "^good1.csv	2$" "ingest output"
eq "$(sql t.db 'select count(*) from fixture_items')" 3 "rows after first run"
eq "$(sql t.db 'select status, n_ok, n_rejected from runs')" "ok|2|0" "runs row of first run"
eq "$(sql t.db 'pragma journal_mode')" wal "database in WAL mode"
eq "$(sql t.db 'select arguments from runs' | "$python" -c 'import json,sys; print(" ".join(json.loads(sys.stdin.read())[1:]))')" \
   "--db t.db ingest good1.csv good2.csv" "arguments recorded as a JSON array"

expect 3 "ingest with a bad file" -- "$fixture" --db t.db ingest good1.csv bad.csv good2.csv
lines err 1 "one line per rejected input"
has err "^moe-fixture: error: rejected: bad.csv: line 2: expected KEY,NUMBER$" "rejection names file and line"
eq "$(sql t.db 'select count(*) from fixture_items')" 3 "re-run adds no duplicates; bad file leaves no rows"
eq "$(sql t.db "select count(*) from fixture_items where key in ('x','y','z')")" 0 "rows before the bad line rolled back"
eq "$(sql t.db "select e.input, e.reason, r.status, r.n_ok, r.n_rejected from input_errors e join runs r using(run_id)")" \
   "bad.csv|line 2: expected KEY,NUMBER|partial|2|1" "input_errors row"
eq "$(sql t.db "select count(distinct run_id) from runs where run_id glob '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*-4*'")" 2 "run ids are UUID v4"

expect 3 "missing file" -- "$fixture" --db t.db ingest nope.csv
has err "rejected: nope.csv: cannot open: No such file or directory" "missing input named"

# ---- --json, -q ---------------------------------------------------------------------------------
expect 3 "ingest --json" -- "$fixture" --db t.db ingest --json good2.csv bad.csv
eq "$("$python" -c 'import json,sys; [print(json.loads(l)["rows"]) for l in open("out")]')" 1 "JSON result line"
eq "$("$python" -c 'import json,sys; d=json.loads(open("err").read()); print(d["level"], d["input"], d["reason"])')" \
   "error bad.csv line 2: expected KEY,NUMBER" "JSON log line"
expect 0 "ingest -q" -- "$fixture" --db t.db -q ingest good1.csv
lines err 0 "-q is silent"

# ---- progress bar only on a terminal ---------------------------------------------------------
expect 0 "no bar without a terminal" -- "$fixture" --db t.db ingest good1.csv good2.csv
lines err 0 "no progress output when stderr is not a terminal"
if command -v script >/dev/null; then
    script -qec "NO_COLOR=1 $fixture --db t.db ingest --delay-ms 150 good1.csv good2.csv" /dev/null >tty.out </dev/null
    has tty.out "ingest \[===*\] 2/2 .*/s ETA" "progress bar on a terminal"
    if grep -q $'\033\[32m' tty.out; then bad "NO_COLOR honoured"; else ok; fi
    script -qec "TERM=xterm $fixture --db t.db ingest good1.csv" /dev/null >tty2.out </dev/null
    if grep -q $'\033\[32m' tty2.out; then ok; else bad "colour without NO_COLOR"; fi
fi

# ---- device ----------------------------------------------------------------------------------
if "$fixture" --version | grep -q '^device: no CUDA device'; then
    expect 1 "--device cuda without a GPU" -- "$fixture" --db t.db ingest --device cuda good1.csv
    has err "no CUDA device" "--device cuda message"
fi

# ---- stdout closed by its reader ----------------------------------------------------------------
# head exits after the first line, long before the batch ends: the run goes on, commits every file,
# ends ok and exits 0, with one line on stderr
mkdir -p many
for i in $(seq 1 600); do printf 'm%d,%d\n' "$i" "$i" >many/f$i.csv; done
set -o pipefail
"$fixture" --db pipe.db ingest --delay-ms 1 many/*.csv 2>pipe.err </dev/null | head -1 >pipe.out
rc=$?
set +o pipefail
eq "$rc" 0 "stdout closed by head: exit status"
lines pipe.out 1 "head got its line"
eq "$(sql pipe.db "select status, n_ok, n_rejected, finished_at is not null from runs")" "ok|600|0|1" "stdout closed by head: the run ends ok"
eq "$(sql pipe.db "select count(*) from fixture_items")" 600 "stdout closed by head: every file committed"
lines pipe.err 1 "stdout closed by head: one line on stderr"
has pipe.err "^moe-fixture: stdout was closed by its reader: the output after that point was dropped; every result is in pipe.db" \
    "stdout closed by head: the note"

# ---- SIGTERM ends the run as failed ---------------------------------------------------------------
mkdir -p slow
for i in $(seq 1 30); do for j in $(seq 1 10); do printf 's%d_%d,%d\n' "$i" "$j" "$j"; done >slow/s$i.csv; done
"$fixture" --db term.db ingest --delay-ms 30 slow/*.csv >term.out 2>term.err </dev/null &
pid=$!
for _ in $(seq 1 100); do [ -n "$(sql term.db "select count(*) from fixture_items" 2>/dev/null | grep -v '^0$')" ] && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid"
eq "$?" 143 "SIGTERM: the process ends by the signal (128 + 15)"
eq "$(sql term.db "select status, finished_at is not null, n_ok < 30 from runs")" "failed|1|1" "SIGTERM: the run is recorded as failed"
eq "$(sql term.db "select count(*) from runs where status = 'running'")" 0 "SIGTERM: no run left running"
eq "$(sql term.db "select count(*) from (select substr(key, 1, instr(key, '_')) f, count(*) n from fixture_items group by f having n != 10)")" 0 \
    "SIGTERM: every file whole or absent"
eq "$(sql term.db "select count(*) / 10 from fixture_items")" "$(sql term.db "select n_ok from runs")" "SIGTERM: the files counted done are those stored"
has term.err "terminated (SIGTERM): stopping: the input in progress is rolled back and run .* is recorded as failed" "SIGTERM: the message"

# ---- a model file that is not one, or whose weights are not finite, is refused at load ------------
factory=${programs[2]}
samples=$(cd "$(dirname "$0")/../../data/samples/factory/maintenance" && pwd)
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89' >picture.png
expect 1 "--model a PNG" -- "$factory" --db model.db maintain predict --sensors "$samples/sensors.csv" --model picture.png
lines err 1 "--model a PNG: one line"
has err "picture.png: not a safetensors file (its first 8 bytes are not a plausible header length for a 33-byte file" "--model a PNG: the message"
poisoned=$("$python" - "$samples/model.safetensors" nan.safetensors <<'PY'
import json, struct, sys
raw = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
name = sorted(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32" and v["data_offsets"][1] > v["data_offsets"][0])[0]
at = 8 + n + header[name]["data_offsets"][0]
raw[at:at + 4] = struct.pack("<f", float("nan"))
open(sys.argv[2], "wb").write(raw)
print(name)
PY
)
expect 1 "--model with a NaN weight" -- "$factory" --db model.db maintain predict --sensors "$samples/sensors.csv" --model nan.safetensors
lines err 1 "--model with a NaN weight: one line"
has err "nan.safetensors: tensor '$poisoned': element 0 is NaN: every value of a model must be finite" "--model with a NaN weight: the message"

# ---- a database that is not ours, or from a newer build, is refused untouched -------------------
refused() { # refused NAME DB NEEDLE: the fixture refuses DB with exit 1, NEEDLE on stderr, DB unchanged
    cp "$2" "$2.before"
    expect 1 "$1" -- "$fixture" --db "$2" ingest good1.csv
    has err "$3" "$1: message"
    if cmp -s "$2" "$2.before"; then ok; else bad "$1: the file was modified"; fi
}
"$fixture" --db newer.db ingest good1.csv >/dev/null 2>&1
"$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("pragma user_version = 99"); c.commit(); c.close()' newer.db
refused "user_version of a newer build" newer.db "newer.db: database schema 'core' is version 99 (PRAGMA user_version), this build knows up to 2: upgrade moesuite"
eq "$(sql newer.db "select count(*) from runs")" 1 "newer database: no run row added"
"$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("pragma user_version = 2"); c.execute("update schema_versions set version = 7 where component = '"'core'"'"); c.commit(); c.close()' newer.db
refused "core version of a newer build" newer.db "newer.db: database schema 'core' is version 7, this build knows up to 2: upgrade moesuite"
"$fixture" --db newer_part.db ingest good1.csv >/dev/null 2>&1
"$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("update schema_versions set version = 9 where component = '"'fixture'"'"); c.commit(); c.close()' newer_part.db
refused "the program's tables from a newer build" newer_part.db "newer_part.db: database schema 'fixture' is version 9, this build knows up to 1: upgrade moesuite"
eq "$(sql newer_part.db "select count(*) from runs")" 1 "newer program tables: no run row added"
"$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table notes (x)"); c.execute("pragma user_version = 4"); c.commit(); c.close()' other.db
refused "another application's database" other.db "other.db: not a moesuite database (application_id 0x00000000, yet not empty: 1 tables, indexes or views, user_version 4)"
"$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("pragma user_version = 2"); c.commit(); c.close()' versioned.db
refused "an empty database with a user_version" versioned.db "not a moesuite database (application_id 0x00000000, yet not empty: 0 tables"

# ---- metrics file --------------------------------------------------------------------------------
mkdir -p metrics
expect 3 "ingest --metrics-dir" -- "$fixture" --db t.db --metrics-dir metrics ingest good1.csv bad.csv
"$python" - metrics/moe-fixture.prom <<'PY' >prom.out 2>&1 && ok || bad "metrics file: $(cat prom.out)"
import sys
from prometheus_client.parser import text_string_to_metric_families
samples = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        samples[s.name] = (s.labels, s.value)
labels = {"program": "moe-fixture", "command": "ingest"}
assert samples["moesuite_inputs_processed"] == (labels, 1.0), samples
assert samples["moesuite_inputs_rejected"] == (labels, 1.0), samples
assert samples["moesuite_last_run_success"] == (labels, 1.0), samples
assert 0 <= samples["moesuite_run_duration_seconds"][1] < 60, samples
assert samples["moesuite_last_success_timestamp_seconds"][1] == samples["moesuite_last_run_timestamp_seconds"][1]
PY
ls -a metrics | grep -q tmp && bad "temporary metrics file left behind" || ok
echo "not a database" >broken.db
expect 1 "unusable database" -- "$fixture" --db broken.db --metrics-dir metrics ingest good1.csv
has err "broken.db" "database error names the file"
"$python" - metrics/moe-fixture.prom <<'PY' >prom.out 2>&1 && ok || bad "metrics after a failed run: $(cat prom.out)"
import sys
from prometheus_client.parser import text_string_to_metric_families
v = {s.name: s.value for f in text_string_to_metric_families(open(sys.argv[1]).read()) for s in f.samples}
assert v["moesuite_last_run_success"] == 0.0, v
assert v["moesuite_last_success_timestamp_seconds"] < v["moesuite_last_run_timestamp_seconds"], v
PY

# ---- the store failing under good inputs: the run's failure, no input blamed -----------------------
# (a full disk, on a small tmpfs when one can be mounted here, and a lock held past the busy timeout,
# each coming after the first file; every file is good)
printf 'k1,1\n' >s1.csv
printf 'k2,2\n' >s2.csv
printf 'k3,3\n' >s3.csv
storage_failure() { # storage_failure NAME DB NEEDLE STATUS: NEEDLE on stderr, s1 stored, nothing blamed, run STATUS
    has err "$3" "$1: the store's failure on stderr"
    has err "the results store failed while storing s2.csv" "$1: the input is named as not at fault"
    has err "run .* will be recorded as failed" "$1: the run fails"
    eq "$(sql "$2" 'select count(*) from input_errors')" 0 "$1: no input recorded as rejected"
    eq "$(sql "$2" 'select status, n_ok, n_rejected from runs')" "$4" "$1: run status and counts"
    eq "$(sql "$2" 'select group_concat(key) from fixture_items')" k1 "$1: the first file's rows stand"
    "$python" - metrics/moe-fixture.prom <<'PY' >prom.out 2>&1 && ok || bad "$1: metrics: $(cat prom.out)"
import sys
from prometheus_client.parser import text_string_to_metric_families
v = {s.name: s.value for f in text_string_to_metric_families(open(sys.argv[1]).read()) for s in f.samples}
assert v["moesuite_last_run_success"] == 0.0 and v["moesuite_inputs_rejected"] == 0.0, v
PY
}
mkdir -p small
if mount -t tmpfs -o size=1m tmpfs small 2>/dev/null; then
    expect 1 "disk full after one file" -- "$fixture" --db small/full.db --metrics-dir metrics ingest --full-after 1 s1.csv s2.csv s3.csv
    rm -f small/full.db.fill
    # the run's last update needed room too: it stays 'running', with the counts after the first file
    storage_failure "disk full" small/full.db "database or disk is full" "running|1|0"
    umount small
else
    echo "skipped: disk full (cannot mount a tmpfs here)"
fi
expect 1 "write lock held after one file" -- \
    env MOESUITE_BUSY_TIMEOUT_MS=200 "$fixture" --db locked.db --metrics-dir metrics ingest --lock-after 1 s1.csv s2.csv s3.csv
storage_failure "lock held" locked.db "database is locked" "failed|1|0"

# ---- kill -9 in the middle of a batch: the run's row counts what it committed ------------------------
for i in 1 2 3 4 5 6 7 8; do printf 'kill%s,%s\n' "$i" "$i" >"kill$i.csv"; done
"$fixture" --db killed.db ingest --delay-ms 400 kill1.csv kill2.csv kill3.csv kill4.csv kill5.csv kill6.csv kill7.csv kill8.csv \
    >/dev/null 2>&1 &
victim=$!
for _ in $(seq 100); do # until two files are in
    [ "$(sql killed.db "select count(*) from fixture_items" 2>/dev/null)" -ge 2 ] 2>/dev/null && break
    sleep 0.1
done
kill -9 $victim
wait $victim 2>/dev/null
committed=$(sql killed.db "select count(*) from fixture_items")
n_ok=$(sql killed.db "select n_ok from runs where status = 'running'")
if [ "$committed" -ge 2 ] && [ "$committed" -lt 8 ] && [ "$n_ok" -ge $((committed - 1)) ] && [ "$n_ok" -le "$committed" ]; then ok
else bad "killed run: n_ok '$n_ok' for $committed files committed"; fi
"$fixture" --db killed.db ingest kill1.csv >/dev/null 2>&1
eq "$(sql killed.db "select status || n_ok from latest_runs")" ok1 "latest_runs: the finished run, not the killed one"
# the killed batch run again gives what an uninterrupted run gives
"$fixture" --db killed.db ingest kill1.csv kill2.csv kill3.csv kill4.csv kill5.csv kill6.csv kill7.csv kill8.csv >/dev/null 2>&1
"$fixture" --db whole.db ingest kill1.csv kill2.csv kill3.csv kill4.csv kill5.csv kill6.csv kill7.csv kill8.csv >/dev/null 2>&1
eq "$(sql killed.db "select group_concat(key || '=' || value) from (select * from fixture_items order by key)")" \
   "$(sql whole.db "select group_concat(key || '=' || value) from (select * from fixture_items order by key)")" \
   "kill -9, then the same batch again: the rows of an uninterrupted run"
eq "$(sql killed.db "select count(*) from runs where status = 'running'")" 1 "the killed run stays recorded as unfinished"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
