"""MCP: the real `mcp` client SDK (streamable HTTP) against the app on the tiny models.

Every public endpoint is a tool named after it, with a description from the task layer; `similarity` answers
through the same task as the tab; bad input comes back as an error result with the endpoint's sentence. With
`SHOWCASE_API_KEY` set, MCP needs the key like /v1; `SHOWCASE_MCP=false` serves no MCP at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import free_port

from apps.tasks.similarity import TOO_FEW

mcp = pytest.importorskip("mcp")
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

KEY = "mcp-key-91c2"


def mcp_url(app_url: str) -> str:
    return f"{app_url}gradio_api/mcp/"


async def _session(url: str, key: str | None, work: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=120) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await work(session)


def with_session(url: str, work: Any, key: str | None = None) -> Any:
    """Run `work(session)` in a fresh MCP session (the test's own event loop, the app's server runs in a thread)."""
    return asyncio.run(_session(url, key, work))


def public_endpoints(demo) -> set[str]:
    return set(demo.get_api_info()["named_endpoints"])


def test_every_public_endpoint_is_a_described_tool(tiny_app) -> None:
    url, demo = tiny_app

    async def work(session: ClientSession) -> Any:
        return (await session.list_tools()).tools

    tools = with_session(mcp_url(url), work)
    names = {tool.name for tool in tools}
    assert names == {name.lstrip("/") for name in public_endpoints(demo)}
    for tool in tools:
        # A sentence that says what the tool does, not gradio's file-upload hint alone.
        assert tool.description and not tool.description.startswith(" If a user"), tool.name
        assert len(tool.description.split()) >= 5, (tool.name, tool.description)
    by_name = {tool.name: tool for tool in tools}
    assert by_name["similarity"].description.startswith("Sentence similarity: ")
    assert "cosine similarity" in by_name["similarity"].description
    assert set(by_name["similarity"].inputSchema["properties"]) == {"sentences", "model"}


def test_similarity_tool_answers_like_the_endpoint(tiny_app, client) -> None:
    url, _demo = tiny_app
    sentences = "A cat sits on the mat.\nA kitten rests on a rug.\nStocks fell sharply today."

    async def work(session: ClientSession) -> Any:
        return await session.call_tool("similarity", {"sentences": sentences})

    result = with_session(mcp_url(url), work)
    assert not result.isError, result.content
    text = "\n".join(part.text for part in result.content if part.type == "text")
    # The same pair (and score) as the endpoint itself finds on the same model.
    _table, pair = client.predict(sentences, api_name="/similarity")
    assert "Most similar pair" in text
    assert pair in text


def test_bad_input_is_an_error_result_with_the_sentence(tiny_app) -> None:
    url, _demo = tiny_app

    async def work(session: ClientSession) -> Any:
        bad = await session.call_tool("similarity", {"sentences": "only one line"})
        # The server keeps serving after the error: the next call answers.
        good = await session.call_tool("similarity", {"sentences": "one\ntwo"})
        return bad, good

    bad, good = with_session(mcp_url(url), work)
    assert bad.isError
    message = " ".join(part.text for part in bad.content if part.type == "text")
    assert TOO_FEW in message, message
    assert not good.isError


@pytest.fixture(scope="module")
def guarded(tiny_settings) -> Iterator[str]:
    """A second app on the tiny models with an API key: its URL."""
    from pydantic import SecretStr

    from app import build_demo, launch

    settings = tiny_settings.model_copy(update={"port": free_port(), "api_key": SecretStr(KEY)})
    demo = build_demo(settings)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{settings.port}/"
    demo.close()


def test_api_key_guards_mcp_like_v1(guarded) -> None:
    for key in (None, "wrong"):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = httpx.post(mcp_url(guarded), json={}, headers=headers, timeout=30)
        assert response.status_code == 401
        assert "SHOWCASE_API_KEY" in response.json()["error"]["message"]

    async def work(session: ClientSession) -> Any:
        return await session.call_tool("similarity", {"sentences": "one\ntwo"})

    result = with_session(mcp_url(guarded), work, key=KEY)
    assert not result.isError, result.content


def test_mcp_off_serves_no_mcp(tiny_settings) -> None:
    from pydantic import SecretStr

    from app import build_demo, launch
    from apps.serving.mcp import enabled

    # Behind the UI's sign-in gradio's MCP server could not call its queued tools: MCP is off there too.
    assert not enabled(tiny_settings.model_copy(update={"api_key": SecretStr(KEY), "api_key_ui": True}))
    assert enabled(tiny_settings.model_copy(update={"api_key": SecretStr(KEY)}))
    settings = tiny_settings.model_copy(update={"port": free_port(), "mcp": False})
    demo = build_demo(settings)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{settings.port}/"
        assert httpx.get(mcp_url(url), timeout=30).status_code == 404
        assert httpx.get(f"{url}gradio_api/info", timeout=30).status_code == 200
    finally:
        demo.close()
