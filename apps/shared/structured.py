"""Structured output: replies constrained to JSON (a JSON schema, or any JSON object) while they are generated.

The seam every chat engine shares is `OutputConstraint`, carried by `GenerationSettings.constraint`:

- `parse_json_schema(text)` / `json_object()` build one (a bad schema is an InputError); `from_response_format`
  turns an OpenAI `response_format` ({"type": "json_schema" | "json_object" | "text"}) into one, so `/chat`
  and `/v1/chat/completions` mean the same thing by it.
- A transformers engine asks `transformers_logits_processor(constraint, tokenizer, vocab_size)` for a fresh
  logits processor per `generate()` call (xgrammar masks every token that would break the grammar).
- An engine that samples tokens itself asks for a `TokenMask` (llama.cpp: `llama_token_mask(constraint,
  llama)`, run as its logits processor): the same xgrammar grammar over that engine's vocabulary. llama.cpp's
  own JSON-schema grammar is not used: it drops numeric bounds (`minimum`, `maximum`), which xgrammar keeps.
  A remote OpenAI-compatible server gets `constraint.response_format()`.
- `validate_reply(constraint, text)` parses the finished reply and checks it against the schema with
  `jsonschema`, so nothing invalid is returned whatever the engine did.
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.core import libraries
from apps.core.errors import InputError

MAX_SCHEMA_CHARS = 20_000
ANY_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class OutputConstraint:
    """What a reply must be: JSON matching `schema` (`kind` "json_schema"), or any JSON object ("json_object")."""

    kind: str
    schema: dict[str, Any]
    schema_text: str  # canonical JSON of the schema (the grammar cache key; what llama.cpp takes)
    name: str = "reply"

    def instruction(self) -> str:
        """A line for the system prompt: small models follow a schema better when they are told it."""
        if self.kind == "json_object":
            return "Reply with a single JSON object and nothing else."
        return f"Reply with a single JSON value and nothing else, matching this JSON schema: {self.schema_text}"

    def response_format(self) -> dict[str, Any]:
        """The same constraint as an OpenAI `response_format` (for remote OpenAI-compatible engines)."""
        if self.kind == "json_object":
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.schema, "strict": True}}


def _check_schema(schema: Any) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise InputError('The JSON schema must be a JSON object, e.g. {"type": "object", "properties": {...}}.')
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path) or "the top level"
        raise InputError(f"The JSON schema is not valid (at {where}): {exc.message}") from None
    return schema


def _canonical(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_json_schema(text: Any) -> OutputConstraint | None:
    """The constraint for a JSON schema given as text; None for "" (free text). InputError for a bad schema."""
    if text is None:
        return None
    if isinstance(text, dict):
        return from_schema(text)
    if not isinstance(text, str):
        raise InputError("The JSON schema must be text (JSON), or empty for a free-text reply.")
    if not text.strip():
        return None
    if len(text) > MAX_SCHEMA_CHARS:
        raise InputError(f"The JSON schema is {len(text):,} characters long; the limit is {MAX_SCHEMA_CHARS:,}.")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"The JSON schema is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
        ) from None
    return from_schema(schema)


def from_schema(schema: Any, name: str = "reply") -> OutputConstraint:
    """The constraint for a JSON schema given as a dict (checked against the JSON Schema metaschema)."""
    schema = _check_schema(schema)
    constraint = OutputConstraint("json_schema", schema, _canonical(schema), name)
    _compile_check(constraint)
    return constraint


def json_object() -> OutputConstraint:
    """Any JSON object (OpenAI's `{"type": "json_object"}`)."""
    return OutputConstraint("json_object", ANY_OBJECT, _canonical(ANY_OBJECT), "json_object")


def from_response_format(response_format: Any) -> OutputConstraint | None:
    """The constraint for an OpenAI `response_format`; None for `{"type": "text"}` or none. InputError otherwise."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise InputError('response_format must be an object such as {"type": "json_object"}.')
    kind = response_format.get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return json_object()
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or "schema" not in spec:
            raise InputError('response_format json_schema needs {"json_schema": {"name": ..., "schema": {...}}}.')
        return from_schema(spec["schema"], str(spec.get("name") or "reply"))
    raise InputError(f'response_format type {kind!r} is not supported; use "text", "json_object" or "json_schema".')


# -- validation of the finished reply ---------------------------------------------------------------


def validate_reply(constraint: OutputConstraint, text: str) -> Any:
    """The reply parsed as JSON and checked against the constraint's schema; InputError says what is wrong."""
    from jsonschema import Draft202012Validator

    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise InputError(
            "The reply is not complete JSON (it probably ran out of tokens): raise Max new tokens, or simplify "
            "the schema (e.g. maxLength on strings, maxItems on arrays)."
        ) from None
    if constraint.kind == "json_object" and not isinstance(value, dict):
        raise InputError("The reply is JSON but not an object.")
    errors = sorted(Draft202012Validator(constraint.schema).iter_errors(value), key=lambda error: list(error.path))
    if errors:
        where = "/".join(str(part) for part in errors[0].path) or "the top level"
        raise InputError(f"The reply does not match the JSON schema (at {where}): {errors[0].message}")
    return value


# -- the transformers side: xgrammar --------------------------------------------------------------

# One grammar compiler per tokenizer (it caches compiled grammars itself); dropped with the tokenizer.
_compilers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_compilers_lock = threading.Lock()
_checker: list[Any] = []  # a compiler on a minimal vocabulary: checks that xgrammar can turn a schema into a grammar


def _xgrammar() -> Any:
    with libraries.imports("structured.xgrammar"):
        import xgrammar
    return xgrammar


def _compile(compiler: Any, constraint: OutputConstraint) -> Any:
    # Compact JSON only (any_whitespace=False): a small model can otherwise fill its budget with blank lines.
    if constraint.kind == "json_object":
        return compiler.compile_json_schema(constraint.schema_text, any_whitespace=False)
    return compiler.compile_json_schema(constraint.schema_text, any_whitespace=False, strict_mode=True)


def _compile_check(constraint: OutputConstraint) -> None:
    """InputError when xgrammar cannot build a grammar for the schema (checked before any model is loaded)."""
    xgrammar = _xgrammar()
    with _compilers_lock:
        if not _checker:
            _checker.append(xgrammar.GrammarCompiler(xgrammar.TokenizerInfo(["a", "b", "{", "}"]), cache_enabled=False))
        checker = _checker[0]
    try:
        _compile(checker, constraint)
    except (RuntimeError, ValueError, TypeError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        # xgrammar prefixes its messages with a time and a C++ source location: keep only the sentence.
        first_line = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", lines[0])
        raise InputError(f"This JSON schema cannot be used to constrain a reply: {first_line}") from None


def _compiled(constraint: OutputConstraint, owner: Any, tokenizer_info: Callable[[Any], Any]) -> Any:
    """The constraint compiled for `owner`'s vocabulary (one compiler per owner, which caches grammars itself)."""
    xgrammar = _xgrammar()
    with _compilers_lock:
        compiler = _compilers.get(owner)
        if compiler is None:
            compiler = xgrammar.GrammarCompiler(tokenizer_info(xgrammar), max_threads=2)
            _compilers[owner] = compiler
    return _compile(compiler, constraint)


def compiled_grammar(constraint: OutputConstraint, tokenizer: Any, vocab_size: int) -> Any:
    """The constraint compiled for this transformers tokenizer (cached per tokenizer and schema)."""
    return _compiled(
        constraint,
        tokenizer,
        lambda xgrammar: xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size),
    )


def transformers_logits_processor(constraint: OutputConstraint, tokenizer: Any, vocab_size: int) -> Any:
    """A fresh transformers LogitsProcessor for one `generate()` call (xgrammar's cannot be reused)."""
    grammar = compiled_grammar(constraint, tokenizer, vocab_size)
    with libraries.imports("structured.xgrammar.hf"):
        from xgrammar.contrib.hf import LogitsProcessor
    return LogitsProcessor(grammar)


# -- an engine that samples itself: llama.cpp ------------------------------------------------------


class TokenMask:
    """xgrammar's matcher over tokens an engine samples itself: called with the next token's logits, it sets
    every token the grammar forbids to -inf; `accept(token)` moves it past the token that was sampled."""

    def __init__(self, grammar: Any, vocab_size: int) -> None:
        xgrammar = _xgrammar()
        self.matcher = xgrammar.GrammarMatcher(grammar)
        self.bitmask = xgrammar.allocate_token_bitmask(1, vocab_size)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np

        self.matcher.fill_next_token_bitmask(self.bitmask)
        # One bit per token, 32 to an int32 word, lowest bit first (x86 and ARM are little-endian).
        allowed = np.unpackbits(self.bitmask.numpy().view(np.uint8), bitorder="little")[: len(scores)]
        scores[allowed == 0] = -np.inf
        return scores

    def accept(self, token: int) -> None:
        if not self.matcher.accept_token(int(token)):
            raise RuntimeError(f"token {token} breaks the output grammar")  # masked out: a bug, not bad input


def llama_token_mask(constraint: OutputConstraint, llama: Any) -> TokenMask:
    """A TokenMask for one generation on a `llama_cpp.Llama` (its vocabulary read once per model)."""
    import llama_cpp

    def tokenizer_info(xgrammar: Any) -> Any:
        size, vocab = llama.n_vocab(), llama._model.vocab
        # Each token as the bytes it adds to the text (control tokens add none: xgrammar never allows those),
        # and the end-of-turn tokens, which end the reply once the JSON is complete.
        tokens = [llama.detokenize([token], special=False) for token in range(size)]
        stops = [token for token in range(size) if llama_cpp.llama_vocab_is_eog(vocab, token)]
        return xgrammar.TokenizerInfo(tokens, vocab_size=size, stop_token_ids=stops)

    return TokenMask(_compiled(constraint, llama, tokenizer_info), llama.n_vocab())
