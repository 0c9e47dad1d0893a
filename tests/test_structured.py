"""Structured output: schema checks, OpenAI response_format, constrained replies on the tiny model and real SmolLM2."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from task_contexts import tiny_context, tiny_manager

from apps.core.errors import InputError
from apps.shared.chat_engine import generation_settings
from apps.shared.structured import (
    from_response_format,
    json_object,
    parse_json_schema,
    validate_reply,
)
from apps.tasks.chat import reply, stream_chat

CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}, "country": {"type": "string", "maxLength": 40}},
    "required": ["city", "country"],
}

# Ten schemas of our own with a question each: nested objects, enums, arrays, numbers, booleans, nulls.
SCHEMAS: list[tuple[str, dict[str, Any]]] = [
    ("What is the capital of France? Give the city and its country.", CITY),
    (
        "Classify the sentiment of: 'I love this phone, the battery lasts for days.'",
        {
            "type": "object",
            "properties": {
                "sentiment": {"enum": ["positive", "negative", "neutral"]},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "required": ["sentiment", "confidence"],
        },
    ),
    (
        "Name three colours.",
        {"type": "array", "items": {"type": "string", "maxLength": 20}, "minItems": 3, "maxItems": 3},
    ),
    (
        "Describe a fictional person who lives in Paris.",
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 40},
                "age": {"type": "integer", "minimum": 0, "maximum": 120},
                "address": {
                    "type": "object",
                    "properties": {
                        "street": {"type": "string", "maxLength": 40},
                        "city": {"type": "string", "maxLength": 30},
                    },
                    "required": ["street", "city"],
                },
            },
            "required": ["name", "age", "address"],
        },
    ),
    (
        "Is the Earth flat? Answer and give a short reason.",
        {
            "type": "object",
            "properties": {"answer": {"type": "boolean"}, "reason": {"type": "string", "maxLength": 80}},
            "required": ["answer", "reason"],
        },
    ),
    (
        "List up to three fruits with a price in euros.",
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fruit": {"type": "string", "maxLength": 20},
                    "price": {"type": "number", "minimum": 0, "maximum": 100},
                },
                "required": ["fruit", "price"],
            },
            "minItems": 1,
            "maxItems": 3,
        },
    ),
    ("What colour is the sky on a clear day?", {"enum": ["red", "green", "blue"]}),
    (
        "Give a 2 by 2 grid of small numbers.",
        {
            "type": "object",
            "properties": {
                "grid": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "items": {"type": "integer", "minimum": 0, "maximum": 9},
                        "minItems": 2,
                        "maxItems": 2,
                    },
                    "minItems": 2,
                    "maxItems": 2,
                }
            },
            "required": ["grid"],
        },
    ),
    (
        "Tag this text with topics: 'The team won the match after a late goal.'",
        {
            "type": "object",
            "properties": {
                "tags": {
                    "type": "array",
                    "items": {"enum": ["sport", "politics", "science", "music"]},
                    "minItems": 1,
                    "maxItems": 2,
                },
                "language": {"enum": ["en", "fr", "de"]},
            },
            "required": ["tags", "language"],
        },
    ),
    (
        "Give a book title and, if you know it, its author.",
        {
            "type": "object",
            "properties": {
                "title": {"type": "string", "maxLength": 60},
                "author": {"anyOf": [{"type": "string", "maxLength": 40}, {"type": "null"}]},
                "year": {"type": "integer", "minimum": 0, "maximum": 2100},
            },
            "required": ["title", "author", "year"],
        },
    ),
]


# -- schemas and response formats (no model) ------------------------------------------------------


def test_empty_schema_means_free_text() -> None:
    assert parse_json_schema("") is None
    assert parse_json_schema("   ") is None
    assert parse_json_schema(None) is None


def test_schema_text_and_dict_give_the_same_constraint() -> None:
    from_text = parse_json_schema(json.dumps(CITY, indent=2))
    from_dict = parse_json_schema(CITY)
    assert from_text == from_dict and from_text.kind == "json_schema" and from_text.schema == CITY
    assert json.loads(from_text.schema_text) == CITY
    assert "city" in from_text.instruction()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{not json", "not valid JSON (line 1, column 2)"),
        ('"a string"', "must be a JSON object"),
        ('{"type": "strng"}', "JSON schema is not valid (at type)"),
        ('{"type": "object", "properties": {"a": {"minLength": -1}}}', "JSON schema is not valid"),
        ('{"$ref": "#/definitions/missing"}', "cannot be used to constrain a reply"),
        ("x" * 20_001, "the limit is 20,000"),
    ],
    ids=["not-json", "not-object", "bad-type", "bad-keyword", "bad-ref", "too-long"],
)
def test_bad_schema_is_a_clear_error(text: str, error: str) -> None:
    with pytest.raises(InputError, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_json_schema(text)


def test_schema_of_wrong_type_is_refused() -> None:
    with pytest.raises(InputError, match="must be text"):
        parse_json_schema(42)


def test_openai_response_formats() -> None:
    assert from_response_format(None) is None
    assert from_response_format({"type": "text"}) is None
    assert from_response_format({"type": "json_object"}) == json_object()
    constraint = from_response_format({"type": "json_schema", "json_schema": {"name": "place", "schema": CITY}})
    assert constraint.schema == CITY and constraint.name == "place"
    assert constraint.response_format() == {
        "type": "json_schema",
        "json_schema": {"name": "place", "schema": CITY, "strict": True},
    }
    with pytest.raises(InputError, match="needs"):
        from_response_format({"type": "json_schema"})
    with pytest.raises(InputError, match="not supported"):
        from_response_format({"type": "yaml"})


def test_validate_reply_parses_and_checks() -> None:
    constraint = parse_json_schema(CITY)
    assert validate_reply(constraint, '{"city": "Paris", "country": "France"}') == {
        "city": "Paris",
        "country": "France",
    }
    with pytest.raises(InputError, match="not complete JSON"):
        validate_reply(constraint, '{"city": "Par')
    with pytest.raises(InputError, match="does not match the JSON schema"):
        validate_reply(constraint, '{"city": "Paris"}')
    with pytest.raises(InputError, match="not an object"):
        validate_reply(json_object(), "[1, 2]")


def test_settings_carry_the_constraint() -> None:
    settings = generation_settings(64, 0, 1, 1).with_constraint(json_object())
    assert settings.with_max_new_tokens(8).constraint == json_object()


# -- the tiny model: a random model still writes schema-valid JSON ---------------------------------


@pytest.fixture(scope="module")
def tiny_chat(tiny_settings):
    return tiny_context("chat", tiny_settings, tiny_manager(tiny_settings))


def test_tiny_model_reply_is_constrained(tiny_chat) -> None:
    schema = {"enum": ["yes", "no"]}
    answer = reply(tiny_chat, "Yes or no?", [], "", 16, json_schema=json.dumps(schema))
    assert answer.value in ("yes", "no") and json.loads(answer.text) == answer.value


def test_tiny_model_streams_and_validates(tiny_chat) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    updates = list(stream_chat(tiny_chat, "Is it ok?", [], "", 32, 0, 1.0, 1.0, json_schema=schema))
    assert updates[-1].done and isinstance(updates[-1].value, dict) and isinstance(updates[-1].value["ok"], bool)


def test_tiny_model_out_of_tokens_is_a_clear_error(tiny_chat) -> None:
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    with pytest.raises(InputError, match="raise Max new tokens"):
        reply(tiny_chat, "Write", [], "", 3, json_schema=schema)


def test_bad_schema_through_the_api(client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="not valid JSON"):
        client.predict("hi", [], "", 16, 0, 0.9, 1.0, "", "{oops", api_name="/chat")


# -- the real SmolLM2 ------------------------------------------------------------------------------


@pytest.mark.real
@pytest.mark.parametrize(("question", "schema"), SCHEMAS, ids=[f"schema{i}" for i in range(len(SCHEMAS))])
def test_real_smollm2_replies_match_the_schema(real_context, question: str, schema: dict[str, Any]) -> None:
    answer = reply(real_context("chat"), question, [], "You are a helpful assistant.", 160, json_schema=schema)
    parsed = json.loads(answer.text)
    Draft202012Validator(schema).validate(parsed)
    assert parsed == answer.value


@pytest.mark.real
def test_real_smollm2_json_schema_over_the_api(real_client) -> None:
    text = real_client.predict(
        "What is the capital of France? Give the city and its country.",
        [],
        "You are a helpful assistant.",
        96,
        0,
        0.9,
        1.0,
        "",
        json.dumps(CITY),
        api_name="/chat",
    )
    Draft202012Validator(CITY).validate(json.loads(text))
