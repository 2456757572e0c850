"""Compare two demo report.json files with their volatile fields removed (run time, checkout paths, history).

Usage: python3 tests/tools/report_compare.py BASE/report.json NEW/report.json   (exit 1 and the differences)
"""

from __future__ import annotations

import json
import re
import sys
import typing as t

VOLATILE_RUN_KEYS = ("generated",)


def normalized(path: str) -> t.Any:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    for key in VOLATILE_RUN_KEYS:
        data.get("run", {}).pop(key, None)
    data.pop("comparison", None)  # the previous report found in the directory, if any
    # Where the checkout lies, in every string: /work/<checkout>/demo/../.kubefort-demo/<host>
    text = re.sub(r"/[^\"\s]*?/demo/\.\./\.kubefort-demo/", "<demo>/", json.dumps(data, sort_keys=True))
    return json.loads(text)


def main() -> int:
    base, new = normalized(sys.argv[1]), normalized(sys.argv[2])
    if base == new:
        print("identical (volatile fields removed)")
        return 0
    a = json.dumps(base, indent=1, sort_keys=True).splitlines()
    b = json.dumps(new, indent=1, sort_keys=True).splitlines()
    import difflib

    for line in difflib.unified_diff(a, b, "base", "new", lineterm="", n=2):
        print(line)
    return 1


if __name__ == "__main__":
    sys.exit(main())
