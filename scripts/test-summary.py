#!/usr/bin/env python3
"""Sum test results into the one line CI reads: "N passed, N failed".

usage: test-summary.py [--label L] [--missing NAME]... LOG...
  LOG        JSON-lines result logs: meson's meson-logs/testlog.json, or the
             fuzzlog.json/stagelog.json written by scripts/fuzz.sh and .ci/run
             (one object per line with at least "name" and "result").
  --missing  a stage that produced no log (it failed before running): counted as failed
  --label    print "L: N passed, N failed" instead of the plain line
Passed: OK, EXPECTEDFAIL. Skipped (SKIP) tests are reported on their own line and count
neither way. Everything else (FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, INTERRUPT) is a failure.
Exit status: 0 when nothing failed and at least one test passed, 1 otherwise.
"""

import argparse
import json
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="*")
    ap.add_argument("--label")
    ap.add_argument("--missing", action="append", default=[])
    opts = ap.parse_args()
    passed, failed, skipped = 0, list(opts.missing), []
    for path in opts.logs:
        try:
            with open(path, encoding="utf-8") as f:
                lines = [l for l in f if l.strip()]
        except OSError as e:
            failed.append("%s (%s)" % (path, e.strerror))
            continue
        for line in lines:
            try:
                rec = json.loads(line)
                name, result = rec["name"], rec["result"]
            except (ValueError, KeyError, TypeError):
                failed.append("%s: unreadable record" % path)
                continue
            if result in PASS:
                passed += 1
            elif result in SKIP:
                skipped.append(name)
            else:
                failed.append("%s (%s)" % (name, result))
    if failed:
        print("failed: " + ", ".join(failed))
    if skipped:
        print("skipped: " + ", ".join(skipped))
    summary = "%d passed, %d failed" % (passed, len(failed))
    print("%s: %s" % (opts.label, summary) if opts.label else summary)
    return 0 if passed > 0 and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
