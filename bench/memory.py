"""Memory: cycle once through every tab under a budget B smaller than all models together.

`python -m bench.memory --models FILE --budget BYTES [--model TASK=REF …] --out result.json` runs in a
fresh process (so earlier figures do not inflate its RSS): it serves the app, records the RSS once the
app and its model libraries are imported and the server runs (before any model loads), then calls every
tab's endpoint once while a thread samples RSS, and writes peak RSS, evictions and the manager's events.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.server import ROOT, env

TOLERANCE = 0.10


@dataclass
class Memory:
    kit: str
    budget: int
    models_total: int  # the models' estimated sizes, all together
    after_import: int  # RSS once the app and torch/transformers are imported and the server runs
    baseline: int  # RSS after every endpoint ran once on a KB-sized model, all unloaded again
    peak: int
    evictions: int
    loads: int
    peak_models: int  # the most bytes the manager held at once
    errors: dict[str, str]
    events: list[dict[str, Any]]

    @property
    def limit(self) -> int:
        return self.budget + self.baseline

    @property
    def ratio(self) -> float:
        """Peak RSS ÷ (B + RSS after import): the target allows 10 % over."""
        return self.peak / self.limit


def model_sizes(models_file: Path, models: dict[str, str]) -> dict[str, int]:
    """Estimated bytes (float32) of each loaded copy the configured models make, as the manager reserves them."""
    from app import build_manager
    from apps.core.hub import fetch
    from apps.core.settings import Settings
    from apps.core.weights import estimate_load_bytes

    manager = build_manager(Settings(models_file=models_file, models=models, offline=True, device="cpu"))
    sizes: dict[str, int] = {}
    for task in manager.loaders:
        ref = manager.selection.get(task)
        key = " ".join(manager.model_key(task))  # the manager's own key: tasks that share a copy count it once
        if key not in sizes:
            path = fetch(ref, offline=True, fetch_hint="")
            sizes[key] = estimate_load_bytes(path, ref.gguf_file, "float32")
    return sizes


def choose_budget(sizes: dict[str, int]) -> int:
    """Half of all models together, but at least the largest model (and a little room)."""
    return max(int(max(sizes.values()) * 1.05), sum(sizes.values()) // 2)


def run_probe(kit: str, models_file: Path, models: dict[str, str], out: Path, warm_kit: Path | None) -> Memory:
    """Run the probe in a fresh process and read its result."""
    sizes = model_sizes(models_file, models)
    budget = choose_budget(sizes)
    command = [sys.executable, "-m", "bench.memory", "--models", str(models_file), "--budget", str(budget)]
    if warm_kit is not None:
        command += ["--warm-kit", str(warm_kit)]
    command += [arg for task, ref in models.items() for arg in ("--model", f"{task}={ref}")]
    command += ["--out", str(out)]
    subprocess.run(command, check=True, cwd=ROOT, env=env())
    data = json.loads(out.read_text())
    return Memory(kit=kit, budget=budget, models_total=sum(sizes.values()), **data)


def probe(models_file: Path, models: dict[str, str], budget: int, warm_kit: Path | None) -> dict[str, Any]:
    """In this process: serve the app under `budget`, call every endpoint once, return what was measured.

    With `warm_kit` (the tiny kit's models file), every endpoint is first called once on its KB-sized tiny
    model, then everything is unloaded: the RSS after that is the process with all its code imported
    (the libraries import each model class, tokenizer and processor lazily, on first use).
    """
    import torch  # noqa: F401  # the model libraries belong to the process, not to the budget
    import transformers  # noqa: F401

    from bench.cases import Inputs, cases
    from bench.server import serve
    from bench.stats import PeakRss, rss

    inputs = Inputs()
    all_cases = [case for case in cases(inputs) if case.memory]
    tiny = tomllib.loads(warm_kit.read_text()) if warm_kit else {}
    local_dirs = tuple({Path(entry["model"]).parent for entry in tiny.values()})
    with serve(models_file, models, budget=str(budget), local_dirs=local_dirs) as served:
        import sentence_transformers  # noqa: F401

        gc.collect()
        after_import = rss()
        for case in all_cases if tiny else []:
            model = {"model": tiny[case.task]["model"]} if "model" in case.request.inputs else {}
            served.client.predict(*case.api_args(0, **model), api_name=case.api_name)
        served.manager.unload_all()
        gc.collect()
        baseline = rss()
        loads_before, evictions_before = sum(served.manager.load_counts.values()), served.manager.evictions()
        events_before = len(served.manager.events)
        errors: dict[str, str] = {}
        peak_models = 0
        with PeakRss() as sampler:
            for case in all_cases:
                try:
                    served.client.predict(*case.api_args(0), api_name=case.api_name)
                except Exception as exc:
                    errors[case.api_name] = f"{type(exc).__name__}: {exc}"[:300]
                peak_models = max(peak_models, served.manager.used_bytes())
        manager = served.manager
        return {
            "after_import": after_import,
            "baseline": baseline,
            "peak": sampler.peak,
            "evictions": manager.evictions() - evictions_before,
            "loads": sum(manager.load_counts.values()) - loads_before,
            "peak_models": peak_models,
            "errors": errors,
            "events": list(manager.events)[events_before:],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description="Peak RSS while cycling through every tab under a budget.")
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--budget", type=int, required=True)
    parser.add_argument("--model", action="append", default=[], metavar="TASK=REF")
    parser.add_argument("--warm-kit", type=Path, help="models file of KB-sized models to import everything with first")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    models = dict(item.split("=", 1) for item in args.model)
    args.out.write_text(json.dumps(probe(args.models, models, args.budget, args.warm_kit), indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
