"""The explanations under BENCHMARKS.md's table: how each figure is measured and why a target is missed."""

from __future__ import annotations

SECTIONS: dict[str, str] = {
    "Rerun": """
```bash
python -m bench            # tiny + medium random models, ~10 min on 2 cores
python -m bench --real     # also SmolLM2-135M (GGUF) and all-MiniLM-L6-v2, if their packages are installed
python -m bench --quick --out /tmp/bench   # smoke run (what tests/test_bench.py runs)
```
""",
}
