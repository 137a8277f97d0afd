"""Runs the benchmarks: `python -m bench` runs all, `python -m bench engine telegram` some.

Each bench/bench_<name>.py has a `main()` that measures and prints its figures.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    here = Path(__file__).resolve().parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    chosen = argv or names
    unknown = [name for name in chosen if name not in names]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; there are: {', '.join(names)}")
    for name in chosen:
        print(f"\n=== bench {name} ===", flush=True)
        importlib.import_module(f"bench.bench_{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
