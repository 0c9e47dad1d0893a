"""The one sentence splitter, and long text in pieces a model can take whole (measured in its tokens).

Translation and summarization pack sentences into chunks of the model's tokens; text to speech reads
sentences and clauses one at a time (`spoken_sentences`). Nothing is ever dropped: a sentence longer
than the limit is split at word boundaries, and a word longer than the limit at character boundaries,
so joining the pieces gives back all the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Counter = Callable[[str], int]

# A sentence ends at . ! ? … (then whitespace) or at CJK full stops (no space follows those).
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)|(?<=[。！？])")
# Read aloud, a clause ending in ; or : is also a breath: the same rule with those marks added.
_CLAUSE_END = re.compile(r"(?<=[.!?…;:])\s+(?=\S)|(?<=[。！？；：])")


def split_sentences(text: str, *, clauses: bool = False) -> list[str]:
    """Sentences of one paragraph or line (whitespace-trimmed, none empty); with `clauses`, also cut after ; and :."""
    pattern = _CLAUSE_END if clauses else _SENTENCE_END
    return [part.strip() for part in pattern.split(text) if part and part.strip()]


def _split_long(unit: str, count: Counter, max_tokens: int) -> list[str]:
    """Pieces of one over-long sentence, each within `max_tokens`: by words, then by characters."""
    pieces: list[str] = []
    current = ""
    for word in unit.split():
        candidate = f"{current} {word}" if current else word
        if count(candidate) <= max_tokens:
            current = candidate
            continue
        if current:
            pieces.append(current)
        if count(word) <= max_tokens:
            current = word
            continue
        # One "word" longer than the limit (a URL, a run of CJK text): cut it by characters.
        current = ""
        for char in word:
            if current and count(current + char) > max_tokens:
                pieces.append(current)
                current = ""
            current += char
    if current:
        pieces.append(current)
    return pieces


def pack(units: list[str], count: Counter, max_tokens: int, joiner: str = " ") -> list[str]:
    """Greedily join consecutive units (sentences, summaries) into chunks of at most `max_tokens` tokens."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    chunks: list[str] = []
    current = ""
    for unit in units:
        if count(unit) > max_tokens:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(_split_long(unit, count, max_tokens))
            continue
        glue = "" if current.endswith(("。", "！", "？")) else joiner  # CJK text has no spaces between sentences
        candidate = f"{current}{glue}{unit}" if current else unit
        if current and count(candidate) > max_tokens:
            chunks.append(current)
            candidate = unit
        current = candidate
    if current:
        chunks.append(current)
    return chunks


def chunk_text(text: str, count: Counter, max_tokens: int) -> list[str]:
    """The whole text in chunks of at most `max_tokens` tokens, cut between sentences where possible."""
    sentences = [sentence for line in text.splitlines() for sentence in split_sentences(line)]
    return pack(sentences, count, max_tokens)


def chunk_lines(text: str, count: Counter, max_tokens: int) -> list[list[str]]:
    """Per line of the text, its chunks (an empty list for a blank line), so output keeps the line layout."""
    return [pack(split_sentences(line), count, max_tokens) if line.strip() else [] for line in text.split("\n")]


def spoken_sentences(text: str, max_chars: int) -> list[str]:
    """The pieces a voice reads one at a time: sentences and clauses, each at most `max_chars` characters.

    Every line is cut into sentences and clauses (after ; and : too) with inner whitespace collapsed; a
    piece over `max_chars` is cut between words (a word over it, between characters).
    """
    units = [" ".join(unit.split()) for line in text.splitlines() for unit in split_sentences(line, clauses=True)]
    return [
        piece for unit in units for piece in (_split_long(unit, len, max_chars) if len(unit) > max_chars else [unit])
    ]
