"""Sections → chunks of at most a token budget, cut between paragraphs (then sentences), with overlap.

Each chunk is an exact slice of the document's text (`text[start:end]`), so its character span points
back into the document. Paragraphs are packed greedily up to the budget (small ones merge); a paragraph
over the budget is cut between sentences with `apps.shared.text.chunk_text`, the one splitter. The next
chunk starts with the previous chunk's last paragraph when that fits in the overlap budget, so a fact
that straddles two paragraphs is whole in at least one chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apps.rag.parse import Document
from apps.shared.text import Counter, chunk_text

MAX_TOKENS = 200  # all-MiniLM-L6-v2 reads 256 word pieces; leave room for its special tokens
OVERLAP_TOKENS = 40
MIN_TOKENS = 20  # a last chunk smaller than this joins the one before it

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", re.DOTALL)


@dataclass
class Chunk:
    location: str
    start: int
    end: int
    text: str


def _units(document: Document, start: int, text: str, count: Counter, max_tokens: int) -> list[tuple[int, int]]:
    """(start, end) spans of the section's paragraphs, over-long ones cut between sentences."""
    spans: list[tuple[int, int]] = []
    for match in _PARAGRAPH.finditer(text):
        begin, paragraph = start + match.start(), match.group(0)
        if count(paragraph) <= max_tokens:
            spans.append((begin, begin + len(paragraph)))
            continue
        # A piece is the paragraph's text with whitespace possibly re-joined: find its span by walking
        # the same number of non-space characters through the paragraph.
        cursor = 0
        for piece in chunk_text(paragraph, count, max_tokens):
            while cursor < len(paragraph) and paragraph[cursor].isspace():
                cursor += 1
            left, end = len(re.sub(r"\s", "", piece)), cursor
            while end < len(paragraph) and left:
                left -= not paragraph[end].isspace()
                end += 1
            spans.append((begin + cursor, begin + end))
            cursor = end
    return spans


def chunk_document(
    document: Document,
    count: Counter,
    max_tokens: int = MAX_TOKENS,
    overlap_tokens: int = OVERLAP_TOKENS,
    min_tokens: int = MIN_TOKENS,
) -> list[Chunk]:
    """The document's chunks, section by section (a chunk never spans two pages or headings)."""
    text = document.text
    chunks: list[Chunk] = []
    for section in document.sections:
        units = _units(document, section.start, section.text, count, max_tokens)
        mine: list[Chunk] = []
        first = 0
        while first < len(units):
            last = first
            while last + 1 < len(units) and count(text[units[first][0] : units[last + 1][1]]) <= max_tokens:
                last += 1
            begin, end = units[first][0], units[last][1]
            mine.append(Chunk(section.location, begin, end, text[begin:end]))
            if last + 1 >= len(units):
                break
            # Overlap: start the next chunk at this one's last paragraph when it is short enough.
            overlap = last > first and count(text[units[last][0] : units[last][1]]) <= overlap_tokens
            first = last if overlap else last + 1
        chunks.extend(_merge_tiny(text, mine, count, max_tokens + min_tokens, min_tokens))
    return chunks


def _merge_tiny(text: str, chunks: list[Chunk], count: Counter, limit: int, min_tokens: int) -> list[Chunk]:
    """A chunk under `min_tokens` (a lone heading, a last line) joins its neighbour when both fit in `limit`."""
    out: list[Chunk] = []
    for chunk in chunks:
        if out and (count(chunk.text) < min_tokens or count(out[-1].text) < min_tokens):
            merged = text[out[-1].start : chunk.end]
            if count(merged) <= limit:
                out[-1] = Chunk(chunk.location, out[-1].start, chunk.end, merged)
                continue
        out.append(chunk)
    return out
