#!/usr/bin/env python3
"""Asks pykickstart (RHEL 10 handler, ksvalidator semantics) about kickstart files.

Usage: pykickstart_verdict.py FILE...   prints one JSON object per line:
  {"file": FILE, "verdict": "ok" | "error", "line": N | null, "message": "...", "warnings": [...]}

As ksvalidator: %include is followed, the first error stops the parse, warnings do not count.
As Anaconda's first pass: when the file has a %pre section, a missing %include is not an
error (the %pre may write it; Anaconda parses again after running %pre).
Used by the data tests' recorder and by `cargo xtask test`'s differential step.
"""
import json
import os
import re
import sys
import warnings

from pykickstart.errors import KickstartError
from pykickstart.parser import KickstartParser, preprocessKickstart
from pykickstart.version import RHEL10, makeVersion


def verdict(path):
    path = os.path.abspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    has_pre = re.search(rb"(?m)^\s*%pre(\s|$)", raw) is not None
    handler = makeVersion(RHEL10)
    parser = KickstartParser(handler, followIncludes=True, errorsAreFatal=True,
                             missingIncludeIsFatal=not has_pre)
    out = {"file": sys.argv[sys.argv.index(path)] if path in sys.argv else path,
           "verdict": "ok", "line": None, "message": "", "warnings": []}
    cwd = os.getcwd()
    os.chdir(os.path.dirname(path))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                parser.readKickstart(path)
            except KickstartError as e:
                out["verdict"] = "error"
                out["line"] = getattr(e, "lineno", None)
                out["message"] = str(e).strip().splitlines()[-1] if str(e).strip() else ""
            except RecursionError:
                out["verdict"] = "error"
                out["message"] = "recursion (include cycle)"
            except Exception as e:  # pykickstart crashes count as errors without a line
                out["verdict"] = "error"
                out["message"] = "%s: %s" % (type(e).__name__, e)
            out["warnings"] = [str(w.message).strip() for w in caught]
    finally:
        os.chdir(cwd)
    return out


def main():
    sys.setrecursionlimit(400)
    for path in sys.argv[1:]:
        try:
            v = verdict(path)
        except Exception as e:
            v = {"file": path, "verdict": "error", "line": None, "message": str(e), "warnings": []}
        v["file"] = path
        print(json.dumps(v), flush=True)


if __name__ == "__main__":
    main()
