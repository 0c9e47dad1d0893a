""" "Use it in code": the Python that reproduces a task's result, three ways, and a notebook that runs it.

The three ways are `transformers.pipeline(...)` (where transformers 5 has a pipeline for the task), the model
classes loaded directly, and `gradio_client` against this app. The first two come from the task's
`CodeRecipe` (its registry entry's `code`); the third from its endpoint's public parameter names, so every
task has it. The values filled in are those of the task's last call (`LastCalls`), or its reference request.
No gradio here: the UI piece is apps/ui/code_panel.py.
"""

from __future__ import annotations

import base64
import importlib.metadata
import os
import pprint
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import nbformat
from nbformat import v4

from apps.core.refs import ModelRef
from apps.core.spec import ASSETS, Asset, TaskSpec

# Every snippet picks its device the same way, so it runs as printed on a laptop and on a Colab GPU.
PICK_DEVICE = 'device = "cuda" if torch.cuda.is_available() else "cpu"  # a GPU when there is one'
APP_URL_PLACEHOLDER = "http://127.0.0.1:7860/"
EMBED_LIMIT = 5_000_000  # bytes: smaller inputs travel inside the notebook, larger ones are uploaded in it
# pip names of the packages a snippet may import, with the module each is imported as (for the pins).
DISTRIBUTIONS = ("transformers", "torch", "numpy", "pillow", "soundfile", "soxr", "gradio_client", "accelerate", "gguf")


@dataclass(frozen=True)
class Call:
    """What one endpoint of a task was last called with, by public parameter name (files as local paths)."""

    api_name: str
    inputs: Mapping[str, Any]


class LastCalls:
    """The last call of each task in each session, so its code reproduces what that visitor just ran.

    Kept per session (a browser page, a `gradio_client.Client`): one visitor's text and files never show
    in another's code or notebook. One per app, used from any thread; the oldest sessions are forgotten.
    """

    def __init__(self, max_sessions: int = 1000) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, dict[str, Call]] = {}  # session → task → its last call, oldest session first
        self.max_sessions = max_sessions

    def record(self, task: str, call: Call, session: str = "") -> None:
        with self._lock:
            calls = self._calls.pop(session, {})
            calls[task] = call
            self._calls[session] = calls  # now the newest
            while len(self._calls) > self.max_sessions:
                del self._calls[next(iter(self._calls))]

    def get(self, task: str, session: str = "") -> Call | None:
        with self._lock:
            return self._calls.get(session, {}).get(task)


@dataclass(frozen=True)
class Snippets:
    """A task's code: each way as Python source (None where there is none, with why), and the input files."""

    task: str
    title: str
    api_name: str
    model: str  # the model the snippets load ('' for a task without one model)
    pipeline: str | None
    direct: str | None
    client: str
    no_pipeline: str  # why there is no pipeline snippet ('' when there is one)
    no_direct: str  # why there is no direct snippet
    packages: tuple[str, ...]
    files: Mapping[str, Path] = field(default_factory=dict)  # file name the snippets read → where it is here


def reference_call(spec: TaskSpec, api_name: str | None = None) -> Call:
    """The task's reference request (the registry's) as a Call: the defaults its code shows before any run."""
    request = next((r for r in spec.requests if api_name in (None, r.api_name)), spec.requests[0])
    return Call(request.api_name, dict(request.inputs))


def literal(value: Any) -> str:
    """`value` as Python source, wrapped readably when long."""
    text = repr(value)
    return text if len(text) <= 80 else pprint.pformat(value, width=100, sort_dicts=False)


def _file_path(value: Any) -> Path | None:
    """The local path of a file input (an example `Asset`, or the path of an upload), else None."""
    if isinstance(value, Asset):
        return value.path
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and os.path.isabs(value) and os.path.isfile(value):
        return Path(value)
    return None


def _plain(value: Any, files: dict[str, Path]) -> Any:
    """A call's value as a snippet shows it: a file becomes its file name (recorded in `files`)."""
    if isinstance(value, list | tuple):
        return [_plain(item, files) for item in value]
    path = _file_path(value)
    if path is None:
        return value
    files[path.name] = path
    return path.name


def _model_options(ref: ModelRef) -> str:
    """Keyword arguments after the model id in `from_pretrained(...)` / `pipeline(...)` for this reference."""
    options = ""
    if ref.revision:
        options += f", revision={ref.revision!r}"
    if ref.gguf_file:
        options += f", gguf_file={ref.gguf_file!r}"
    return options


def _client_snippet(api_name: str, values: Mapping[str, Any], file_names: set[str], app_url: str) -> str:
    """`gradio_client` code that sends `values` (plain, files by name) to `api_name` of the app at `app_url`."""

    def is_file(value: Any) -> bool:
        if isinstance(value, list) and value:
            return all(is_file(item) for item in value)
        return isinstance(value, str) and value in file_names

    files = [name for name, value in values.items() if is_file(value)]
    lines = ["from gradio_client import Client" + (", handle_file" if files else ""), ""]
    lines += [f"client = Client({app_url!r})", "result = client.predict("]
    for name, value in values.items():
        if is_file(value):
            shown = (
                "[" + ", ".join(f"handle_file({item!r})" for item in value) + "]"
                if isinstance(value, list)
                else f"handle_file({value!r})"
            )
        else:
            shown = literal(value)
        lines.append(f"    {name}={shown},")
    lines += [f"    api_name={api_name!r},", ")", "print(result)"]
    return "\n".join(lines) + "\n"


def render(spec: TaskSpec, call: Call, model: ModelRef | None, app_url: str = APP_URL_PLACEHOLDER) -> Snippets:
    """The task's three snippets for `call` with `model` (the model the call resolved to; None: no one model)."""
    files: dict[str, Path] = {}
    values = {name: _plain(value, files) for name, value in call.inputs.items()}
    client = _client_snippet(call.api_name, values, set(files), app_url)
    recipe = spec.code
    for name in recipe.assets(values) if recipe and recipe.assets else ():
        files[name] = ASSETS / name  # example files the code reads besides the call's own
    if recipe is None or model is None:
        why = f"The {spec.title} tab has no one model to load: use it through the app's API (below)."
        return Snippets(spec.key, spec.title, call.api_name, "", None, None, client, why, why, ("gradio_client",))
    fields = {name: literal(value) for name, value in values.items()}
    fields.update(recipe.fields(values) if recipe.fields else {})
    fields.update(model=literal(model.source), model_options=_model_options(model), pick_device=PICK_DEVICE)
    pipeline = Template(recipe.pipeline).substitute(fields) if recipe.pipeline else None
    no_pipeline, packages = recipe.no_pipeline, recipe.packages
    if model.gguf_file:  # transformers reads a GGUF file through the model classes (it de-quantizes it)
        pipeline, no_pipeline = None, "A GGUF file loads through the model classes, with `gguf_file=` (below)."
        packages = (*packages, "gguf", "accelerate")
    direct = Template(recipe.direct).substitute(fields)
    return Snippets(
        spec.key,
        spec.title,
        call.api_name,
        model.source,
        pipeline,
        direct,
        client,
        no_pipeline,
        "",
        packages,
        files,
    )


def markdown(snippets: Snippets, note: str = "") -> str:
    """The three snippets as markdown: headed code blocks, or why a way is missing."""
    parts = [f"**{snippets.title}**" + (f" with `{snippets.model}`" if snippets.model else "") + f". {note}".rstrip()]
    if snippets.files:
        names = ", ".join(f"`{name}`" for name in snippets.files)
        parts.append(f"The code reads {names} from the folder it runs in (the notebook brings them along).")
    for heading, code, why in (
        ("1. With `transformers.pipeline`", snippets.pipeline, snippets.no_pipeline),
        ("2. Loading the model directly", snippets.direct, snippets.no_direct),
        ("3. Through this app's API with `gradio_client`", snippets.client, ""),
    ):
        parts.append(f"#### {heading}")
        parts.append(f"```python\n{code}```" if code else f"*{why}*")
    return "\n\n".join(parts)


def _pins(packages: tuple[str, ...]) -> list[str]:
    """`name==version` for each package as installed here (the versions the snippets were checked with)."""
    pins = []
    for name in packages:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
            continue
        # A local build tag (torch's "+cpu") names a wheel index Colab does not use: pin the release only.
        pins.append(f"{name}=={version.split('+')[0]}")
    return pins


def _input_cells(files: Mapping[str, Path]) -> list[Any]:
    """Cells that put each input file in the notebook's folder: embedded when small, else uploaded."""
    cells = []
    for name, path in files.items():
        if path.is_file() and path.stat().st_size <= EMBED_LIMIT:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            source = (
                f"import base64\nfrom pathlib import Path\n\n# {name}, the input the app was given, "
                f"carried inside this notebook\nPath({name!r}).write_bytes(base64.b64decode({data!r}))\n"
                f"print({name!r}, Path({name!r}).stat().st_size, 'bytes')"
            )
        else:
            source = (
                f"from pathlib import Path\n\nif not Path({name!r}).exists():\n"
                "    try:\n        from google.colab import files  # Colab: choose the file in the dialog\n\n"
                "        files.upload()\n    except ImportError:\n"
                f"        print('Put your file {name} in this notebook\\'s folder (Kaggle: Add data).')"
            )
        cells.append(v4.new_code_cell(source))
    return cells


def notebook(snippets: Snippets) -> nbformat.NotebookNode:
    """A notebook for Colab or Kaggle: install, GPU check, the inputs, each way's code (its output shows when run)."""
    title = snippets.title + (f" with {snippets.model}" if snippets.model else "")
    cells = [
        v4.new_markdown_cell(
            f"# {title}\n\nReproduces the Open Model Showcase's {snippets.title} result. On Colab choose "
            "*Runtime → Change runtime type → T4 GPU* (Kaggle: *Accelerator → GPU*); it also runs on a CPU."
        ),
        v4.new_code_cell(
            "%pip install -q " + " ".join(_pins(tuple(dict.fromkeys((*snippets.packages, "gradio_client")))))
        ),
    ]
    if "torch" in snippets.packages:
        cells.append(
            v4.new_code_cell(
                "import torch\n\nif torch.cuda.is_available():\n    print('GPU:', torch.cuda.get_device_name(0))\n"
                "else:\n    print('No GPU: the code runs on the CPU (slower).')"
            )
        )
    if snippets.files:
        cells.append(v4.new_markdown_cell("## The inputs"))
        cells += _input_cells(snippets.files)
    for heading, code, why in (
        ("With `transformers.pipeline`", snippets.pipeline, snippets.no_pipeline),
        ("Loading the model directly", snippets.direct, snippets.no_direct),
    ):
        cells.append(v4.new_markdown_cell(f"## {heading}" + ("" if code else f"\n\n{why}")))
        if code:
            cells.append(v4.new_code_cell(code.rstrip("\n")))
    cells.append(
        v4.new_markdown_cell(
            "## Through the app's API\n\nWhile the app runs where this notebook can reach it (set its address)."
        )
    )
    cells.append(v4.new_code_cell(snippets.client.rstrip("\n")))
    book = v4.new_notebook(cells=cells)
    book.metadata.update(
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "accelerator": "GPU",  # Colab opens it on a GPU runtime when one is free
        }
    )
    nbformat.validate(book)
    return book


def write_notebook(snippets: Snippets, folder: Path) -> Path:
    """Write the notebook atomically as `folder/<task>.ipynb`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{snippets.task}.ipynb"
    partial = path.with_suffix(".ipynb.partial")
    nbformat.write(notebook(snippets), str(partial))
    partial.replace(path)
    return path
