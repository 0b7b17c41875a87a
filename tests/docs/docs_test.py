#!/usr/bin/env python3
"""docs_test.py: runs the examples of README.md and docs/*.md as a reader would.

Every ```sh and ```sql fence must say what it is on its info line:
  run    run it: shell blocks with bash (-e, pipefail) in the scratch folder, SQL blocks with sqlite3
         -bail against the scratch folder's moesuite.db; it must exit 0
  long   runs for minutes or needs a reference package the tests do not install: not run here
  gpu    needs a GPU: not run here
  setup  installs or builds (the quick start itself): not run here
A fence without a mark fails the test, so a new example is classified when it is written.

The scratch folder is what a user has after the quick start: data/ and scripts/ of the checkout,
build/apps/ the programs under test, and moesuite.db with moesuite-out/ from a nightly run.

Usage: docs_test.py SOURCE_DIR PROGRAM_DIR SCRATCH_DIR
"""
import os
import re
import shutil
import subprocess
import sys

MARKS = {"run", "long", "gpu", "setup"}
FENCE = re.compile(r"^```(\w+)\s*(.*)$")


def blocks(path):
    """(line, language, marks, text) of every sh/sql fence in the file."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if m.group(1) in ("sh", "sql"):
                yield i + 1, m.group(1), set(m.group(2).split()), "\n".join(lines[i + 1 : j])
            i = j
        i += 1


def main():
    src, bin_dir, scratch = (os.path.abspath(a) for a in sys.argv[1:4])
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(os.path.join(scratch, "build"))
    os.symlink(bin_dir, os.path.join(scratch, "build", "apps"))
    shutil.copytree(os.path.join(src, "scripts"), os.path.join(scratch, "scripts"))
    shutil.copytree(os.path.join(src, "data"), os.path.join(scratch, "data"))
    for d in ("tests", "bench"):
        os.symlink(os.path.join(src, d), os.path.join(scratch, d))
    env = dict(os.environ, PATH=os.path.join(scratch, "build", "apps") + ":" + os.environ["PATH"])
    env.pop("MOESUITE_DB", None)
    night = subprocess.run(["scripts/nightly.sh"], cwd=scratch, env=env, capture_output=True, text=True)
    if night.returncode != 0:
        print("FAIL: the nightly run the examples start from exited %d\n%s" % (night.returncode, night.stderr[-3000:]))
        return 1

    docs = [os.path.join(src, "README.md")] + sorted(
        os.path.join(src, "docs", f) for f in os.listdir(os.path.join(src, "docs")) if f.endswith(".md"))
    passed = failed = skipped = 0
    for doc in docs:
        name = os.path.relpath(doc, src)
        for line, lang, marks, text in blocks(doc):
            where = "%s:%d (%s)" % (name, line, lang)
            known = marks & MARKS
            if len(known) != 1 or marks - MARKS:
                print("FAIL: %s: the fence says %r; it must say one of %s" % (where, " ".join(sorted(marks)), ", ".join(sorted(MARKS))))
                failed += 1
                continue
            if "run" not in known:
                skipped += 1
                continue
            if lang == "sh":
                cmd = ["bash", "-e", "-o", "pipefail", "-c", text]
                stdin = None
            else:
                cmd = ["sqlite3", "-bail", "-batch", "moesuite.db"]
                stdin = text
            try:
                r = subprocess.run(cmd, cwd=scratch, env=env, input=stdin, capture_output=True, text=True, timeout=600)
                ok, out = r.returncode == 0 and (lang == "sh" or not r.stderr), r.stdout + r.stderr
                code = r.returncode
            except subprocess.TimeoutExpired:
                ok, out, code = False, "timed out after 600 s", None
            if ok:
                passed += 1
            else:
                failed += 1
                print("FAIL: %s exited %s:\n%s\n--- output ---\n%s" % (where, code, text, out[-3000:]))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
