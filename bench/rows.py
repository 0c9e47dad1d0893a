"""Each figure measured and turned into table rows (what __main__ runs)."""

from __future__ import annotations

from pathlib import Path

from bench.kits import Kit
from bench.report import Row

LIMITS = {"cold": 1.3, "overhead": 1.10, "first_token": 1.2, "memory": 1.10, "clicks": 0.3, "throughput": 2.0}


def mb(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def cold_start_rows(repeats: int, warm: bool = True) -> list[Row]:
    from bench.coldstart import IMPORT_ONLY, cold_start

    result = cold_start(repeats, warm=warm)
    return [
        Row(
            "1. cold start",
            "`python app.py` → HTTP 200",
            "≤ 1.3",
            LIMITS["cold"],
            False,
            result.ratio,
            f'app {result.app.seconds()}; `python -c "{IMPORT_ONLY}"` {result.imports.seconds()}',
            f"{result.app.median - result.imports.median:+.2f} s over the imports",
        )
    ]


def memory_rows(kit: Kit, models: dict[str, str], scratch: Path, warm_kit: Kit) -> list[Row]:
    from bench.memory import run_probe

    warm = None if kit.name == "tiny" else warm_kit.models_file  # the tiny kit warms itself up
    result = run_probe(kit.name, kit.models_file, models, scratch / f"memory-{kit.name}.json", warm)
    errors = "; ".join(f"{api}: {error}" for api, error in result.errors.items())
    cold = result.peak / (result.budget + result.after_import)
    return [
        Row(
            "4. memory",
            f"every tab once · {kit.name}",
            "peak ≤ 1.10 × (B + RSS after import)",
            LIMITS["memory"],
            False,
            result.ratio,
            f"peak RSS {mb(result.peak)}; B {mb(result.budget)} (all models {mb(result.models_total)}); "
            f"RSS after import {mb(result.baseline)} (code of every tab imported; right after start "
            f"{mb(result.after_import)})",
            f"{result.evictions} evictions, {result.loads} loads; the manager held at most {mb(result.peak_models)}; "
            f"against the RSS right after start the ratio is {cold:.2f}" + (f"; errors: {errors}" if errors else ""),
        )
    ]


def served_rows(
    kit: Kit, models: dict[str, str], wanted: set[int], repeats: int, only: tuple[str, ...] | None, quick: bool
) -> list[Row]:
    """Figures 2, 3 and 6 on one app served in this process."""
    from bench.cases import Inputs, cases
    from bench.figures import api_overhead, chat_first_token, inputs_for_throughput, throughput
    from bench.server import ECHO_API, serve

    inputs = Inputs()
    rows: list[Row] = []
    judged = kit.name != "tiny"  # KB-sized models compute in ~1 ms: below the API's own noise
    with serve(kit.models_file, models) as served:
        if 2 in wanted:
            chosen = [case for case in cases(inputs) if only is None or case.task in only]
            for result in api_overhead(served, chosen, kit.name, repeats, warmup=0 if quick else 1, echo=not quick):
                subject = f"`{result.case.api_name}` · {kit.name}"
                if result.error:
                    rows.append(Row("2. API overhead", subject, "", None, False, None, "", f"failed: {result.error}"))
                    continue
                rows.append(
                    Row(
                        "2. API overhead",
                        subject,
                        f"≤ 1.10 + fixed cost {result.fixed_ms:.0f} ms",
                        LIMITS["overhead"],
                        False,
                        result.ratio,
                        f"API {result.api.ms()}; bare {result.bare.ms()}; fixed cost {result.fixed.ms()}"
                        + (f"; empty round trip {result.echo.ms()}" if result.echo.samples else ""),
                        f"API ÷ bare without subtracting: {result.raw_ratio:.2f}. Bare: {result.case.bare_note}",
                        judged,
                    )
                )
        if 3 in wanted and (only is None or "chat" in only):
            result = chat_first_token(served, kit.name, repeats, warmup=0 if quick else 1)
            rows.append(
                Row(
                    "3. chat streaming",
                    f"`/chat` first token · {kit.name}",
                    "≤ 1.2",
                    LIMITS["first_token"],
                    False,
                    result.ratio,
                    f"API {result.api.ms()}; bare `generate` + streamer {result.bare.ms()}",
                    f"difference {1000 * (result.api.median - result.bare.median):.0f} ms; through gradio_client",
                    judged,
                )
            )
            rows.append(
                Row(
                    "3. chat streaming",
                    f"`/chat` first token over HTTP (SSE) · {kit.name}",
                    "≤ 1.2",
                    LIMITS["first_token"],
                    False,
                    result.http_ratio,
                    f"HTTP {result.http.ms()}; bare `generate` + streamer {result.bare.ms()}",
                    f"difference {1000 * (result.http.median - result.bare.median):.0f} ms; "
                    "the browser's protocol: `POST /gradio_api/queue/join`, first `process_generating` message",
                    judged,
                )
            )
        if 6 in wanted:
            tasks = {"/similarity": "similarity", "/classify_image": "image_classification", ECHO_API: "echo"}
            endpoints = inputs_for_throughput(inputs)
            if kit.name == "tiny" and not quick:  # the ceiling without a model, once
                endpoints[ECHO_API] = lambda n: (f"ping {n}",)
            for api_name, make_args in endpoints.items():
                if only is not None and tasks[api_name] not in only:
                    continue
                result = throughput(
                    served,
                    api_name,
                    make_args,
                    kit.name,
                    clients=2 if quick else 8,  # --quick only checks that the figure runs
                    per_client=1 if quick else 3,
                    repeats=1 if quick else 3,
                )
                echo = api_name == ECHO_API
                rows.append(
                    Row(
                        "6. throughput",
                        f"`{api_name}` {result.clients} clients · no model"
                        if echo
                        else f"`{api_name}` {result.clients} clients · {kit.name}",
                        "≥ 2×",
                        LIMITS["throughput"],
                        True,
                        result.ratio,
                        f"{result.requests} requests one by one {result.sequential.seconds()}; "
                        f"from {result.clients} clients at once {result.concurrent.seconds()}",
                        "the empty text echo: the most Gradio, HTTP and the clients allow on this machine"
                        if echo
                        else f"requests per second, {result.clients} concurrent clients ÷ one by one",
                        judged and not echo,
                    )
                )
    return rows


def segmentation_rows(tiny: Kit, repeats: int, quick: bool) -> list[Row]:
    from apps.core.manager import LoadRequest
    from apps.core.refs import ModelRef
    from apps.tasks.segmentation import load_segmenter
    from bench.figures import segmentation_clicks
    from scripts.time_segmentation_clicks import ARCHITECTURES, random_sam

    folder = tiny.path("segmentation")
    segmenters = {
        "tiny test SAM": load_segmenter(
            LoadRequest("segmentation", ModelRef(str(folder)), folder, "cpu", "float32", False)
        )
    }
    if not quick:
        segmenters |= {name: random_sam(vision) for name, vision in ARCHITECTURES.items()}
    rows = []
    for result in segmentation_clicks(segmenters, repeats):
        rows.append(
            Row(
                "5. segmentation",
                f"second ÷ first click · {result.model}",
                "≤ 0.3",
                LIMITS["clicks"],
                False,
                result.ratio,
                f"first click {result.first.ms()}; second click {result.second.ms()}",
                f"{result.params:.2f}M parameters; `PointSegmenter.segment` on a 640×480 image",
                result.model != "tiny test SAM",  # its encoder costs next to nothing: nothing to cache
            )
        )
    return rows
