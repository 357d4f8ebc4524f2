#!/usr/bin/env python3
"""The licence of every crate the workspace builds with (`cargo metadata`, offline, no advisory database needed).

    python3 scripts/licenses.py           # check: every licence is allowed, THIRD_PARTY_LICENSES.md is current
    python3 scripts/licenses.py --write   # rewrite THIRD_PARTY_LICENSES.md

A crate passes when its SPDX expression can be satisfied with allowed licences: `A OR B` needs one of them, `A AND
B` (or `A WITH exception`) needs all. Run by scripts/deploy_check.sh.
"""
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "THIRD_PARTY_LICENSES.md"
ALLOWED = {
    "MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib", "Unicode-3.0", "Unicode-DFS-2016",
    "CC0-1.0", "MPL-2.0", "PostgreSQL", "0BSD", "Unlicense", "BSL-1.0", "LLVM-exception", "MIT-0", "CDLA-Permissive-2.0",
}


def satisfiable(expression: str) -> bool:
    """Whether an SPDX expression holds with ALLOWED (OR binds looser than AND; WITH joins an exception)."""
    expression = expression.replace("/", " OR ").replace("(", " ( ").replace(")", " ) ")
    tokens = expression.split()
    pos = 0

    def parse_or() -> bool:
        nonlocal pos
        value = parse_and()
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1
            value = parse_and() or value
        return value

    def parse_and() -> bool:
        nonlocal pos
        value = parse_atom()
        while pos < len(tokens) and tokens[pos] in ("AND", "WITH"):
            pos += 1
            value = parse_atom() and value
        return value

    def parse_atom() -> bool:
        nonlocal pos
        token = tokens[pos]
        pos += 1
        if token == "(":
            value = parse_or()
            pos += 1  # ")"
            return value
        return token.rstrip("+") in ALLOWED

    return parse_or()


def main() -> int:
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    workspace = set(meta["workspace_members"])
    by_license = defaultdict(list)
    refused = []
    for package in sorted(meta["packages"], key=lambda p: (p["name"], p["version"])):
        if package["id"] in workspace:
            continue
        license = package.get("license") or ("file: " + package["license_file"] if package.get("license_file") else "none")
        by_license[license].append(f"{package['name']} {package['version']}")
        if not satisfiable(re.sub(r"^file: .*", "none", license)):
            refused.append(f"{package['name']} {package['version']}: {license}")
    lines = ["# Third-party licences", "",
             "Every crate the workspace builds with, by licence (`python3 scripts/licenses.py --write`, from",
             "`cargo metadata`; checked by `scripts/deploy_check.sh`: each expression must be satisfiable with the",
             "licences allowed in `scripts/licenses.py`).", ""]
    for license in sorted(by_license, key=lambda l: (-len(by_license[l]), l)):
        crates = by_license[license]
        lines.append(f"## {license} ({len(crates)})")
        lines.append("")
        lines.append(", ".join(crates))
        lines.append("")
    text = "\n".join(lines)
    if "--write" in sys.argv:
        OUT.write_text(text)
    elif not OUT.exists() or OUT.read_text() != text:
        print("THIRD_PARTY_LICENSES.md is out of date: run python3 scripts/licenses.py --write", file=sys.stderr)
        return 1
    total = sum(len(c) for c in by_license.values())
    print(f"licences: {total} crates, {len(by_license)} licence expressions, {len(refused)} refused")
    for line in refused:
        print(f"  refused: {line}", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
