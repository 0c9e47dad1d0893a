"""Model finder, the Hub side: search models by task and ranking, estimate their memory, list the cache.

Shared by the Model finder tab (`apps/finder/tab.py`) and the `find` / `estimate` commands
(`apps/cli/finder.py`). The Hub endpoint and offline mode are arguments, read from the environment
at call time (never frozen at import), so the same code runs against the Hub, a mirror, or a test's
fake Hub. Parameter counts come from safetensors metadata; no weights are ever downloaded here.
"""

from __future__ import annotations

import math
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apps.core.errors import InputError, ShowcaseError
from apps.core.hub import hub_endpoint
from apps.core.settings import parse_bytes
from apps.core.spec import TaskSpec
from apps.core.weights import (
    BYTES_PER_PARAM,
    INFERENCE_OVERHEAD,
    ParameterCount,
    count_from_file_sizes,
    count_local,
    format_bytes,
    format_count,
    inference_bytes,
)

# Precision name → short label; the results table shows the four the issue asks for.
PRECISIONS = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "int8": "int8", "int4": "int4"}
TABLE_PRECISIONS = ("float32", "float16", "int8", "int4")
# Hub sort keys (huggingface_hub's `ModelSort_T`) → what a person calls them.
SORTS = {
    "downloads": "Most downloads",
    "likes": "Most likes",
    "trending_score": "Trending",
    "last_modified": "Recently updated",
}
# What one search asks the Hub for: rankings, dates, tags (licence, custom code), parameter counts
# (safetensors, gguf) and file names (to decide whether the file-size fallback is worth a request).
EXPAND = [
    "downloads",
    "likes",
    "trendingScore",
    "lastModified",
    "pipeline_tag",
    "library_name",
    "tags",
    "gated",
    "safetensors",
    "gguf",
    "siblings",
]
MAX_RESULTS = 100
PROBE_TIMEOUT = 4.0  # seconds: an unreachable Hub is reported this fast
INFO_TIMEOUT = 8.0  # seconds per model-info or header request
_FALLBACK_LOOKUPS = 25  # at most this many models get a file-size lookup per search
_TAG = re.compile(r"[a-z0-9][a-z0-9._+-]*")
RESULT_COLUMNS = [
    "model",
    "task",
    "downloads",
    "likes",
    "parameters",
    *(PRECISIONS[p] for p in TABLE_PRECISIONS),
    "licence",
    "updated",
    "fits here",
    "cached",
    "note",
]


class HubUnavailable(ShowcaseError):
    """The Hub cannot be asked: offline mode, or it did not answer in time."""


# -- where the Hub is --------------------------------------------------------------------------


def hub_api(endpoint: str | None = None) -> Any:
    """An `HfApi` for `endpoint` (default: `hub_endpoint()`), with the token from the environment."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint or hub_endpoint())


def check_hub(endpoint: str, timeout: float | None = None) -> None:
    """Raise HubUnavailable unless the Hub answers a tiny listing within `timeout` (PROBE_TIMEOUT) seconds.

    huggingface_hub's own listing retries for about 20 s with no timeout; this probe makes an
    unreachable Hub a message in seconds. It runs in a thread with a hard deadline, because name
    resolution is not covered by HTTP timeouts.
    """
    from huggingface_hub.utils import get_session

    seconds = timeout or PROBE_TIMEOUT
    outcome: list[Any] = []

    def probe() -> None:
        try:
            outcome.append(get_session().get(f"{endpoint}/api/models", params={"limit": 1}, timeout=seconds))
        except Exception as exc:  # offline mode, DNS, refused, proxy, timeout: all mean "not now"
            outcome.append(exc)

    thread = threading.Thread(target=probe, name="hub-probe", daemon=True)
    thread.start()
    thread.join(seconds + 0.5)
    if not outcome:
        raise HubUnavailable(f"the Hugging Face Hub at {endpoint} did not answer within {seconds:.0f} s")
    response = outcome[0]
    if isinstance(response, Exception):
        raise HubUnavailable(_unreachable(endpoint, response)) from response
    if response.status_code >= 500:
        raise HubUnavailable(f"the Hugging Face Hub at {endpoint} answered HTTP {response.status_code}")


def _unreachable(endpoint: str, exc: Exception) -> str:
    from huggingface_hub.errors import OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return "huggingface_hub is in offline mode (HF_HUB_OFFLINE)"
    return f"the Hugging Face Hub at {endpoint} cannot be reached ({type(exc).__name__})"


# -- the query ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One search: a Hub pipeline tag, text, ranking and filters."""

    task: str = ""  # Hub pipeline tag; "" = any task
    search: str = ""
    sort: str = "downloads"
    max_memory: int | None = None  # bytes of inference memory at `precision`; None = no limit
    precision: str = "float16"
    licence: str = ""  # Hub licence id (apache-2.0, mit, ...); "" = any
    library: str = "transformers"  # Hub library tag; "" = any
    limit: int = 20

    def filters(self) -> list[str]:
        """Tags every result must have (the Hub ANDs them)."""
        tags = [self.library] if self.library else []
        return tags + ([f"license:{self.licence}"] if self.licence else [])

    def max_parameters(self) -> int | None:
        """The most parameters whose inference estimate at `precision` fits `max_memory`."""
        if self.max_memory is None:
            return None
        return int(self.max_memory / (BYTES_PER_PARAM[self.precision] * INFERENCE_OVERHEAD))

    def num_parameters(self) -> str | None:
        """The Hub's own parameter filter, in whole billions (its documented syntax), rounded up.

        The exact limit is applied afterwards on the returned counts.
        """
        most = self.max_parameters()
        return None if most is None else f"min:0,max:{max(1, math.ceil(most / 1e9))}B"


def app_tags(specs: Mapping[str, TaskSpec]) -> dict[str, list[TaskSpec]]:
    """Hub pipeline tag → the app's tasks (with a model) that run it, in registry order."""
    tags: dict[str, list[TaskSpec]] = {}
    for spec in specs.values():
        if spec.pipeline_tag and spec.load is not None:
            tags.setdefault(spec.pipeline_tag, []).append(spec)
    return tags


def tasks_for(tag: str | None, specs: Mapping[str, TaskSpec]) -> list[TaskSpec]:
    """The app's tasks that can run a model with this Hub pipeline tag (all tasks if it is unknown)."""
    if not tag:
        return [spec for spec in specs.values() if spec.load is not None]
    return app_tags(specs).get(tag, [])


def resolve_task(text: str | None, specs: Mapping[str, TaskSpec]) -> str:
    """A Hub pipeline tag from a tag, one of the app's task keys, or "" / "any" for any task."""
    value = (text or "").strip()
    if value.lower() in ("", "any", "all"):
        return ""
    if value in specs:
        tag = specs[value].pipeline_tag
        if not tag:
            raise InputError(f"Task `{value}` has no Hub pipeline tag to search for.")
        return tag
    if not _TAG.fullmatch(value):
        raise InputError(
            f"`{value}` is not a Hub task: use a pipeline tag such as "
            f"{', '.join(f'`{tag}`' for tag in list(app_tags(specs))[:3]) or '`text-classification`'}."
        )
    return value


def parse_query(
    specs: Mapping[str, TaskSpec],
    task: str | None,
    search: str | None = "",
    sort: str | None = "downloads",
    max_memory: str | float | None = None,
    precision: str | None = "float16",
    licence: str | None = "",
    library: str | None = "transformers",
    limit: float | None = 20,
) -> Query:
    """Validate what a person typed into a Query; raises InputError with what to fix."""
    texts = {"task": task, "search text": search, "sort": sort, "precision": precision, "licence": licence}
    for what, value in (*texts.items(), ("library", library)):
        if value is not None and not isinstance(value, str):
            raise InputError(f"The {what} must be text, not {type(value).__name__}.")
    search = (search or "").strip()
    if len(search) > 200:
        raise InputError("The search text is too long: use at most 200 characters.")
    sort_key = _choice(sort or "downloads", SORTS, "sort")
    precision_key = _choice(precision or "float16", PRECISIONS, "precision")
    return Query(
        task=resolve_task(task, specs),
        search=search,
        sort=sort_key,
        max_memory=_memory(max_memory),
        precision=precision_key,
        licence=_tag_or_any(licence, "licence"),
        library=_tag_or_any(library, "library"),
        limit=_limit(limit),
    )


def _choice(value: str, choices: Mapping[str, str], what: str) -> str:
    value = value.strip()
    for key, label in choices.items():
        if value.lower() in (key, label.lower()):
            return key
    raise InputError(f"Unknown {what} `{value}`: use one of {', '.join(choices)}.")


def _memory(value: str | float | None) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "any", "none")):
        return None
    if isinstance(value, int | float):
        if value < 0 or math.isnan(value):
            raise InputError("The memory limit must be a positive size, e.g. 4GB.")
        return None if value == 0 else int(value * 1e9)  # a bare number means GB
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        return _memory(number)
    try:
        return parse_bytes(text)
    except ValueError:
        raise InputError(f"Cannot read `{text}` as a memory size: write e.g. 4GB, 1.5GiB or 800MB.") from None


def _tag_or_any(value: str | None, what: str) -> str:
    text = (value or "").strip().lower()
    if text in ("", "any", "all"):
        return ""
    if not _TAG.fullmatch(text):
        raise InputError(f"`{value}` is not a {what} id as the Hub writes them (e.g. apache-2.0, transformers).")
    return text


def _limit(value: float | None) -> int:
    try:
        count = int(value if value is not None else 20)
    except (TypeError, ValueError):
        raise InputError("The number of results must be a whole number.") from None
    if not 1 <= count <= MAX_RESULTS:
        raise InputError(f"Ask for between 1 and {MAX_RESULTS} results.")
    return count


# -- results -----------------------------------------------------------------------------------


@dataclass
class Found:
    """One model of a search result (from the Hub or from the local cache)."""

    id: str
    task: str | None = None
    downloads: int | None = None
    likes: int | None = None
    licence: str = ""
    updated: datetime | None = None
    count: ParameterCount | None = None
    cached: bool = False
    notes: list[str] = field(default_factory=list)
    custom_code: bool = False
    files: list[str] = field(default_factory=list)
    disk_bytes: int | None = None

    def memory(self, precision: str) -> int | None:
        """Estimated inference memory at `precision`, or None when the size is unknown."""
        return inference_bytes(self.count.total, precision) if self.count and self.count.total else None


@dataclass
class SearchResult:
    """What a search found, and whether it came from the Hub or (offline) from the local cache."""

    query: Query
    found: list[Found]
    online: bool
    reason: str = ""  # why the Hub was not used
    hidden: int = 0  # results dropped by the exact memory limit
    cache_dir: str = ""


def search(
    query: Query,
    *,
    endpoint: str | None = None,
    offline: bool = False,
    cache_dir: str | Path | None = None,
) -> SearchResult:
    """Search the Hub; when offline or unreachable, list the models in the local cache instead."""
    endpoint = endpoint or hub_endpoint()
    cache = _cache_dir(cache_dir)
    reason = "the app is offline (SHOWCASE_OFFLINE or HF_HUB_OFFLINE)" if offline else ""
    if not reason:
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError

        try:
            check_hub(endpoint)
            found, hidden = search_hub(query, hub_api(endpoint))
        except HubUnavailable as exc:
            reason = str(exc)
        except HfHubHTTPError as exc:
            if exc.response is not None and 400 <= exc.response.status_code < 500:
                raise InputError(f"The Hub refused this search: {first_line(exc)}") from exc
            reason = _unreachable(endpoint, exc)
        except (OSError, httpx2.HTTPError) as exc:  # the connection dropped after the probe
            reason = _unreachable(endpoint, exc)
        else:
            cached = cached_repo_ids(cache)
            for item in found:
                item.cached = item.id in cached
            return SearchResult(query, found, online=True, hidden=hidden, cache_dir=str(cache))
    found, hidden = cached_models(query, cache)
    return SearchResult(query, found, online=False, reason=reason, hidden=hidden, cache_dir=str(cache))


def search_hub(query: Query, api: Any) -> tuple[list[Found], int]:
    """Query `api.list_models` with the filters as query parameters; returns (results, hidden by memory)."""
    # The exact memory limit is applied here on the counts, so ask for extra results to fill the page.
    fetch = min(MAX_RESULTS, query.limit * 3) if query.max_memory else query.limit
    infos = api.list_models(
        pipeline_tag=query.task or None,
        search=query.search or None,
        filter=query.filters() or None,
        num_parameters=query.num_parameters(),
        sort=query.sort,
        limit=fetch,
        expand=EXPAND,
    )
    found = [_from_info(info) for info in infos]
    _fill_from_file_sizes(api, [item for item in found if item.count is None][:_FALLBACK_LOOKUPS])
    kept, hidden = _within_memory(found, query)
    return kept[: query.limit], hidden


def _from_info(info: Any) -> Found:
    tags = list(info.tags or [])
    licence = next((tag.split(":", 1)[1] for tag in tags if tag.startswith("license:")), "")
    item = Found(
        id=info.id,
        task=info.pipeline_tag,
        downloads=info.downloads,
        likes=info.likes,
        licence=licence,
        updated=info.last_modified,
        custom_code="custom_code" in tags,
        files=[sibling.rfilename for sibling in info.siblings or []],
    )
    item.count = count_from_info(info)
    if item.count is not None and item.count.source == "gguf":
        item.notes.append("parameters from GGUF metadata")
    if info.gated:
        item.notes.append("gated: accept its licence on the Hub and set HF_TOKEN")
    if item.custom_code:
        item.notes.append("ships its own code (runs only with SHOWCASE_TRUST_REMOTE_CODE)")
    return item


def count_from_info(info: Any) -> ParameterCount | None:
    """Parameters from a model's Hub metadata: safetensors first, then GGUF, else None."""
    if info.safetensors and info.safetensors.parameters:
        return ParameterCount(by_dtype={k: int(v) for k, v in info.safetensors.parameters.items()})
    total = (info.gguf or {}).get("total") if isinstance(info.gguf, dict) else None
    if total:
        return ParameterCount(by_dtype={"GGUF": int(total)}, source="gguf")
    return None


def weight_files_bytes(sizes: Mapping[str, int | None]) -> int:
    """Size of one checkpoint's weights from {file name: size}: root-level safetensors, else .bin/.pt/.pth.

    One format only (repos often carry both), and no sub-folders (onnx/, variants).
    """
    root = {name: size or 0 for name, size in sizes.items() if "/" not in name}
    for suffixes in ((".safetensors",), (".bin", ".pt", ".pth")):
        total = sum(size for name, size in root.items() if name.endswith(suffixes))
        if total:
            return total
    return 0


def _has_weights(files: Sequence[str]) -> bool:
    return bool(weight_files_bytes(dict.fromkeys(files, 1)))


def _fill_from_file_sizes(api: Any, items: list[Found]) -> None:
    """Models without safetensors metadata: estimate from their weight files' sizes (the rule of thumb)."""
    todo = [item for item in items if _has_weights(item.files) or not item.files]

    def sizes(item: Found) -> int:
        info = api.model_info(item.id, files_metadata=True, timeout=INFO_TIMEOUT)
        return weight_files_bytes({s.rfilename: s.size for s in info.siblings or []})

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {item.id: pool.submit(sizes, item) for item in todo}
    for item in items:
        future = futures.get(item.id)
        size = 0
        if future is not None and future.exception() is None:
            size = future.result()
        if size:
            item.count = count_from_file_sizes(size)
            item.notes.insert(0, "no safetensors metadata: estimated from weight file sizes (float32 assumed)")
        else:
            item.notes.insert(0, "no safetensors metadata and no weight file sizes: size unknown")


def _within_memory(found: list[Found], query: Query) -> tuple[list[Found], int]:
    if query.max_memory is None:
        return found, 0
    kept = [item for item in found if (item.memory(query.precision) or 0) <= query.max_memory]
    return kept, len(found) - len(kept)


# -- the local cache ---------------------------------------------------------------------------


def _cache_dir(cache_dir: str | Path | None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE).expanduser()


def _scan(cache: Path) -> list[Any]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        return [repo for repo in scan_cache_dir(cache).repos if repo.repo_type == "model"]
    except (CacheNotFound, ValueError, OSError):
        return []


def cached_repo_ids(cache: Path) -> set[str]:
    """Ids of the models in the local Hugging Face cache."""
    return {repo.repo_id for repo in _scan(cache)}


def cached_models(query: Query, cache: Path) -> tuple[list[Found], int]:
    """The cached models that match the query's text (and its task and licence where the card says)."""
    found: list[Found] = []
    for repo in _scan(cache):
        if query.search and query.search.lower() not in repo.repo_id.lower():
            continue
        revision = max(repo.revisions, key=lambda rev: rev.last_modified, default=None)
        item = Found(
            id=repo.repo_id,
            cached=True,
            updated=datetime.fromtimestamp(repo.last_modified, tz=UTC),
            disk_bytes=repo.size_on_disk,
        )
        if revision is not None:
            card = _card_metadata(revision.snapshot_path / "README.md")
            item.task = card.get("pipeline_tag") or None
            licence = card.get("license")
            item.licence = licence if isinstance(licence, str) else ""
            item.custom_code = (revision.snapshot_path / "configuration.py").exists() or any(
                revision.snapshot_path.glob("modeling_*.py")
            )
            try:
                count = count_local(revision.snapshot_path)
                item.count = count if count.total else None
            except Exception as exc:  # unreadable header: still list the model
                item.notes.append(f"cannot read its weights' headers ({type(exc).__name__})")
        if item.count is not None and item.count.source == "file sizes":
            item.notes.append("estimated from weight file sizes (float32 assumed)")
        item.notes.insert(0, f"{format_bytes(repo.size_on_disk)} on disk")
        if query.task and item.task and item.task != query.task:
            continue
        if query.licence and item.licence and item.licence != query.licence:
            continue
        found.append(item)
    if query.sort == "last_modified":
        found.sort(key=lambda item: item.updated or datetime.min.replace(tzinfo=UTC), reverse=True)
    else:
        found.sort(key=lambda item: item.id.lower())
    kept, hidden = _within_memory(found, query)
    return kept[: query.limit], hidden


def _card_metadata(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    from huggingface_hub.repocard import metadata_load

    try:
        return metadata_load(path) or {}
    except Exception:  # a broken card only costs us its tags
        return {}


# -- memory here -------------------------------------------------------------------------------


def estimate_device(setting: str) -> str:
    """The device memory estimates are compared with (as the model manager resolves `setting`)."""
    if setting == "auto" and "torch" not in sys.modules and not Path("/proc/driver/nvidia").exists():
        return "cpu"  # no NVIDIA driver: no need to import torch (seconds) to learn that
    from apps.core.settings import resolve_device

    return resolve_device(setting)


def free_memory(device: str) -> tuple[int, str]:
    """(bytes free now, what they are) on the device models would run on: GPU memory or RAM."""
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free), f"free GPU memory on {device}"
    import psutil

    free = psutil.virtual_memory().available
    try:  # inside a container (Spaces, Docker) the cgroup limit is what counts
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit.isdigit() and used.isdigit():
            free = min(free, int(limit) - int(used))
    except OSError:
        pass
    return max(0, int(free)), "free RAM"


# -- tables ------------------------------------------------------------------------------------


def result_rows(found: Sequence[Found], precision: str, free: int) -> list[list[Any]]:
    """One row per model, in RESULT_COLUMNS order (model ids plain; the tab turns them into links)."""
    rows = []
    for item in found:
        count = item.count
        params = ""
        if count is not None and count.total:
            params = ("≈" if count.source == "file sizes" else "") + format_count(count.total)
        memory = [format_bytes(item.memory(p)) if item.memory(p) else "?" for p in TABLE_PRECISIONS]
        needed = item.memory(precision)
        fits = "?" if needed is None else ("yes" if needed <= free else "no")
        rows.append(
            [
                item.id,
                item.task or "",
                "" if item.downloads is None else item.downloads,
                "" if item.likes is None else item.likes,
                params,
                *memory,
                item.licence,
                item.updated.strftime("%Y-%m-%d") if item.updated else "",
                fits,
                "yes" if item.cached else "no",
                "; ".join(item.notes),
            ]
        )
    return rows


def search_summary(result: SearchResult, free: int, free_what: str) -> str:
    """One paragraph (markdown) on what was searched, where the results come from, and what fits."""
    query = result.query
    label = PRECISIONS[query.precision]
    what = f"`{query.task}`" if query.task else "any task"
    filters = [f"task {query.task}"] if query.task and not result.online else []
    filters += [f"search “{query.search}”"] if query.search else []
    filters += [f"library {query.library}"] if query.library else []
    filters += [f"licence {query.licence}"] if query.licence else []
    if query.max_memory:
        filters.append(f"at most {query.max_memory / 1e9:.3g} GB at {label}")
    filter_text = f" ({', '.join(filters)})" if filters else ""
    fits = f"“fits here” compares the {label} inference estimate with {format_bytes(free)} of {free_what}."
    hidden = f" {result.hidden} more were larger than the memory limit." if result.hidden else ""
    if result.online:
        return (
            f"**{len(result.found)} models** for {what}{filter_text}, {SORTS[query.sort].lower()}.{hidden} "
            f"Parameter counts come from the Hub's safetensors metadata. {fits}"
        )
    if not result.found:
        listing = f"No model in the local cache `{result.cache_dir}` matches{filter_text}.{hidden}"
    else:
        listing = (
            f"Showing the {len(result.found)} model(s) in the local cache `{result.cache_dir}` instead"
            f"{filter_text}, with their size on disk; downloads and likes need the Hub; the task and licence "
            f"filters apply to models whose card names them (not the library filter).{hidden} {fits}"
        )
    return f"**The Hub is not available: {result.reason}.** {listing}"


def first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
