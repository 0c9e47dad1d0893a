"""MCP: every public endpoint as a tool at Gradio's `/gradio_api/mcp/`, named and described from the task layer.

Gradio's MCP server (`gradio[mcp]`, `mount_gradio_app(mcp_server=True)`) does the protocol, the streamable
HTTP transport and the calls (through the same queue as the tabs). Two things it takes from the event
function would be wrong here: the tool's name (the Python function's name, which is `run` in most tabs, so
the tools would be `run`, `run_1`, …) and its description (the event function's docstring, blank for
the tabs' small closures). `describe_tools` gives each public event the task function's docstring as its
`api_description` before mounting; `name_tools` names each tool after its endpoint (`similarity` for
`/similarity`) once gradio has built its server.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import gradio as gr
from starlette.types import ASGIApp, Receive, Scope, Send

from apps.core.auth import authorized
from apps.core.settings import Settings
from apps.core.spec import TaskSpec

MCP_PATH = "/gradio_api/mcp"
LOG = logging.getLogger(__name__)


def enabled(settings: Settings) -> bool:
    """Whether to serve MCP: `SHOWCASE_MCP`, except behind the UI's sign-in (`SHOWCASE_API_KEY_UI=true`).

    Gradio's MCP server runs queued tools through its own gradio_client on the app's URL, which has no
    sign-in: behind the UI's login every such tool would fail ("credentials were not provided"). Rather than
    a tool list that mostly errors, MCP is off there (with a warning); `/v1` still serves the same tasks.
    """
    if not settings.mcp:
        return False
    if settings.api_key_ui and settings.api_key is not None and settings.api_key.get_secret_value():
        LOG.warning("MCP is off: SHOWCASE_API_KEY_UI=true puts a sign-in in front of the tools it calls.")
        return False
    return True


def public_events(demo: gr.Blocks) -> list[Any]:
    """The demo's events that are in its API (an `api_name`, not private): the endpoints that become tools."""
    return [
        fn
        for fn in demo.fns.values()
        if fn.api_name and fn.fn is not None and getattr(fn, "api_visibility", "public") == "public"
    ]


def _summary(fn: Any) -> str:
    """A function's docstring up to its Args/Returns sections, on one line ("" when it has none)."""
    lines: list[str] = []
    for line in (inspect.getdoc(fn) or "").splitlines():
        if line.strip().startswith(("Args:", "Parameters:", "Arguments:", "Returns:")):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines)


def task_function(spec: TaskSpec, api_name: str) -> Any:
    """The task-layer function behind one of the spec's endpoints: the one named after the endpoint in the
    task function's module (`rag_add` for `/rag_add`, `stop` for `/finetune_stop`), else the task function
    itself for its first endpoint."""
    if spec.run is None:
        return None
    module = sys.modules.get(spec.run.__module__)
    # `/finetune_stop` is the Fine-tune task's `stop`: the endpoint's name, then without the task's prefix.
    for name in (api_name, api_name.removeprefix(f"{spec.key}_")):
        named = getattr(module, name, None)
        if callable(named) and getattr(named, "__module__", None) == spec.run.__module__:
            return named
    if spec.api_names and spec.api_names[0].lstrip("/") == api_name:
        return spec.run
    return None


def description(spec: TaskSpec | None, event_fn: Any, api_name: str) -> str:
    """The tool description: the task function's docstring, else the event function's, else the registry's
    one-line description of the task; prefixed with the tab's title so a client's tool list reads well."""
    text = ""
    if spec is not None:
        text = _summary(task_function(spec, api_name))
    text = text or _summary(event_fn) or (spec.description if spec is not None else "")
    if not text:
        text = f"The app's /{api_name} endpoint."
    return f"{spec.title}: {text}" if spec is not None else text


def describe_tools(demo: gr.Blocks, specs: Sequence[TaskSpec]) -> None:
    """Give each public event without an `api_description` of its own the task layer's description (what
    gradio's API page and its MCP tool list show)."""
    by_endpoint = {name.lstrip("/"): spec for spec in specs for name in spec.api_names}
    for fn in public_events(demo):
        if fn.api_description is None:
            fn.api_description = description(by_endpoint.get(fn.api_name), fn.fn, fn.api_name)


def name_tools(demo: gr.Blocks) -> None:
    """Name each MCP tool after its endpoint (gradio names them after the Python functions)."""
    server = getattr(demo, "mcp_server_obj", None)
    if server is None:
        return
    tools: dict[str, str] = {}
    for endpoint in server.tool_to_endpoint.values():
        name = server.valid_and_unique_tool_name(server.tool_prefix + endpoint.lstrip("/"), set(tools))
        tools[name] = endpoint
    server.tool_to_endpoint = tools


class McpGuard:
    """ASGI middleware: with `SHOWCASE_API_KEY` set, `/gradio_api/mcp/` needs `Authorization: Bearer <key>`,
    like `/v1` (the tools run the same tasks, so they cannot be more open than the API)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(MCP_PATH):
            headers = dict(scope.get("headers") or [])
            header = headers.get(b"authorization", b"").decode("latin-1")
            if not authorized(self.settings, header):
                body = json.dumps(
                    {"error": {"message": "MCP needs `Authorization: Bearer <SHOWCASE_API_KEY>`.", "code": 401}}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
