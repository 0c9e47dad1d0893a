"""Documents in: .txt, .md, .pdf (text layer), .html, .csv files or pasted text → sections with locations.

A section is one page (PDF), one heading's part (Markdown, HTML), a block of rows (CSV) or the whole text;
its `start` is its character offset in the document's text, so chunk spans point into that text.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from apps.core.errors import InputError

SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".csv")
MAX_DOCUMENT_CHARS = 2_000_000  # ~1,000 pages: more text than this is refused (split the document)
CSV_ROWS_PER_SECTION = 20

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass
class Section:
    location: str  # "page 3", "§ Installation", "rows 1–20", "text"
    start: int  # character offset of the section in the document's text
    text: str


@dataclass
class Document:
    name: str
    text: str  # the whole text; sections are slices of it
    sections: list[Section] = field(default_factory=list)

    @property
    def hash(self) -> str:
        """Content hash: the same text twice (under any name) is stored once."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:65536]:
        raise InputError(f"{name}: this looks like a binary file, not text; upload .txt, .md, .pdf, .html or .csv.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name}: the file is not UTF-8 text; save it as UTF-8 and upload it again.") from None


def _check_size(text: str, name: str) -> str:
    if not text.strip():
        raise InputError(f"{name}: the document has no text.")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise InputError(
            f"{name}: {len(text):,} characters is more than the {MAX_DOCUMENT_CHARS:,} a document may have; "
            "split it into smaller files."
        )
    return text


def heading_sections(text: str, fallback: str = "text") -> list[Section]:
    """Sections of Markdown-style text, one per heading (text before the first heading is its own)."""
    marks = list(_HEADING.finditer(text))
    if not marks:
        return [Section(fallback, 0, text)]
    sections = []
    if text[: marks[0].start()].strip():
        sections.append(Section(fallback, 0, text[: marks[0].start()]))
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(text)
        sections.append(Section(f"§ {mark.group(2).strip()}", mark.start(), text[mark.start() : end]))
    return sections


class _HtmlText(HTMLParser):
    """HTML → text with `#` headings, skipping scripts and styles."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "section", "article", "table", "ul", "ol", "pre", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self.skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self.skip = max(0, self.skip - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _pdf(data: bytes, name: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise InputError(f"{name}: the PDF is encrypted; remove its password and upload it again.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except InputError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError):
        raise InputError(f"{name}: this PDF is damaged or not a PDF, and its text cannot be read.") from None
    text, sections = "", []
    for number, page in enumerate(pages, start=1):
        if page.strip():
            sections.append(Section(f"page {number}", len(text), page))
            text += page + "\n\n"
    if not sections:
        raise InputError(f"{name}: the PDF has no text layer (a scan?); only PDFs with text can be read.")
    return Document(name, _check_size(text, name), sections)


def _csv(text: str, name: str) -> Document:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise InputError(f"{name}: this CSV cannot be read ({error}).") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise InputError(f"{name}: the CSV has no rows under its header.")
    header, body = rows[0], rows[1:]
    # Each row as "column: value; …" so a chunk carries its column names (a row alone is meaningless).
    out, sections = "", []
    for first in range(0, len(body), CSV_ROWS_PER_SECTION):
        block = body[first : first + CSV_ROWS_PER_SECTION]
        lines = ["; ".join(f"{h}: {v}" for h, v in zip(header, row, strict=False) if v.strip()) for row in block]
        part = "\n\n".join(lines)
        sections.append(Section(f"rows {first + 1}–{first + len(block)}", len(out), part))
        out += part + "\n\n"
    return Document(name, _check_size(out, name), sections)


def parse_bytes(name: str, data: bytes) -> Document:
    """One uploaded file as a Document; InputError (naming the file) when it cannot be read."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{name}: {suffix or 'files without an extension'} cannot be read; upload {', '.join(SUFFIXES)}."
        )
    if not data:
        raise InputError(f"{name}: the file is empty.")
    if suffix == ".pdf":
        return _pdf(data, name)
    text = _decode(data, name)
    if suffix in (".html", ".htm"):
        text = _check_size(html_text(text), name)
        return Document(name, text, heading_sections(text))
    if suffix == ".csv":
        return _csv(text, name)
    text = _check_size(text, name)
    return Document(name, text, heading_sections(text))


def parse_text(text: str, name: str = "pasted text") -> Document:
    """Pasted text (Markdown headings become sections)."""
    text = _check_size(text, name)
    return Document(name, text, heading_sections(text))
