"""The domain knowledge base ``K``: a directory of documents the agent can search and read.

Markdown, reStructuredText, plain text and source files are split into chunks at
headings (or into fixed windows of lines for code and text), each chunk keeping its
file and line range, and indexed with BM25 (``bm25s``). Markdown headings come from a
CommonMark parser (``markdown-it-py``), so setext headings count and a ``#`` line
inside a code block does not. A hit tells the agent
exactly where to ``read_knowledge`` next. PDFs are skipped: no maintained PDF
library is a dependency.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import bm25s
from markdown_it import MarkdownIt
from pydantic import BaseModel, ConfigDict

from orchestrator.workspace_paths import read_text

log = logging.getLogger("avo.knowledge")

MARKDOWN = {".md", ".markdown"}
RST = {".rst"}
TEXT = {".txt", ".text", ""}
CODE = {
    ".py", ".pyi", ".c", ".h", ".cc", ".cpp", ".hpp", ".cu", ".cuh", ".rs", ".go", ".java", ".js", ".ts",
    ".sh", ".toml", ".yaml", ".yml", ".json", ".cfg", ".ini", ".triton", ".ptx", ".mlir", ".jl", ".f90",
}
SKIPPED_DIRS = {".git", "__pycache__", ".venv", "node_modules", ".ipynb_checkpoints"}
MAX_FILE_BYTES = 2_000_000
WINDOW_LINES = 60  # a code/text chunk, and the largest section kept whole
_MARKDOWN_PARSER = MarkdownIt("commonmark")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


class Chunk(BaseModel):
    """A searchable piece of one file: lines ``start_line``..``end_line`` (1-based, inclusive)."""

    model_config = ConfigDict(frozen=True)

    path: str
    start_line: int
    end_line: int
    title: str
    text: str


class KnowledgeHit(Chunk):
    """A chunk that matched a query, with its BM25 score."""

    score: float


class KnowledgeBase:
    """Chunks of every readable file under ``root``, with a BM25 index over them."""

    def __init__(self, root: Path | None, chunks: list[Chunk], titles: dict[str, tuple[str, int]]) -> None:
        self.root = root
        self.chunks = chunks
        self._titles = titles  # path -> (first heading, line count)
        self._retriever: bm25s.BM25 | None = None
        if chunks:
            self._retriever = bm25s.BM25()
            tokens = bm25s.tokenize([f"{c.title}\n{c.path}\n{c.text}" for c in chunks], stopwords="en", show_progress=False)
            self._retriever.index(tokens, show_progress=False)

    @classmethod
    def empty(cls) -> "KnowledgeBase":
        return cls(None, [], {})

    @classmethod
    def load(cls, root: Path | None) -> "KnowledgeBase":
        """Index a directory; ``None`` or a missing directory gives an empty base."""
        if root is None:
            return cls.empty()
        root = Path(root)
        if not root.is_dir():
            log.warning("knowledge base directory %s does not exist; continuing without one", root)
            return cls.empty()
        chunks: list[Chunk] = []
        titles: dict[str, tuple[str, int]] = {}
        for path in sorted(_document_files(root)):
            relative = path.relative_to(root).as_posix()
            text = read_text(root, relative, max_bytes=MAX_FILE_BYTES)
            lines = text.splitlines()
            file_chunks = chunk_lines(relative, lines)
            chunks.extend(file_chunks)
            titles[relative] = (_first_heading(path.suffix.lower(), lines) or relative, len(lines))
        return cls(root, chunks, titles)

    def __bool__(self) -> bool:
        return bool(self.chunks)

    def index(self) -> str:
        """The file list with each file's first heading, for the agent's first message."""
        if not self._titles:
            return "(no knowledge base configured)"
        return "\n".join(f"- {path} ({lines} lines): {title}" for path, (title, lines) in self._titles.items())

    def search(self, query: str, k: int = 5) -> list[KnowledgeHit]:
        """The ``k`` best chunks for ``query``; only chunks sharing a term with it."""
        if self._retriever is None or not query.strip():
            return []
        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
        if not tokens or not tokens[0]:
            return []
        ids, scores = self._retriever.retrieve(tokens, k=min(k, len(self.chunks)), show_progress=False)
        hits = []
        for index, score in zip(ids[0], scores[0]):
            if score <= 0:
                continue
            hits.append(KnowledgeHit(**self.chunks[int(index)].model_dump(), score=float(score)))
        return hits

    def read(self, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
        """Lines of a knowledge file (1-based, inclusive), confined to the knowledge directory."""
        if self.root is None:
            raise FileNotFoundError("no knowledge base is configured")
        lines = read_text(self.root, path, max_bytes=MAX_FILE_BYTES).splitlines()
        first = max(start_line or 1, 1)
        last = min(end_line or len(lines), len(lines))
        body = "\n".join(f"{n:>5}  {lines[n - 1]}" for n in range(first, last + 1))
        return f"{path} lines {first}-{last} of {len(lines)}\n{body}"


def _document_files(root: Path) -> list[Path]:
    """Readable documents under ``root``; symlinks are not followed out of it."""
    files = []
    for path in root.rglob("*"):
        if any(part in SKIPPED_DIRS for part in path.relative_to(root).parts):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix in MARKDOWN | RST | TEXT | CODE:
            files.append(path)
        else:
            log.info("knowledge base: skipping %s (unsupported type)", path)
    return files


def chunk_lines(path: str, lines: list[str]) -> list[Chunk]:
    """Sections at headings for Markdown/reST, then windows of at most ``WINDOW_LINES``."""
    titles = dict(_headings(Path(path).suffix.lower(), lines))
    starts = sorted({0, *titles})
    chunks = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        title = titles.get(start) or path
        for window_start in range(start, end, WINDOW_LINES):
            window_end = min(window_start + WINDOW_LINES, end)
            text = "\n".join(lines[window_start:window_end]).strip()
            if text:
                chunks.append(Chunk(path=path, start_line=window_start + 1, end_line=window_end, title=title, text=text))
    return chunks


def _headings(suffix: str, lines: list[str]) -> list[tuple[int, str]]:
    """(0-based line, title) of every heading of a Markdown or reST document."""
    if suffix in MARKDOWN:
        tokens = _MARKDOWN_PARSER.parse("\n".join(lines))
        return [(token.map[0], tokens[i + 1].content.strip())
                for i, token in enumerate(tokens) if token.type == "heading_open" and token.map]
    if suffix in RST:
        return [(n, lines[n].strip()) for n in range(len(lines)) if _is_rst_heading(lines, n)]
    return []


def _is_rst_heading(lines: list[str], n: int) -> bool:
    """Line ``n`` is a title underlined by line ``n + 1``."""
    title, underline = lines[n].strip(), lines[n + 1] if n + 1 < len(lines) else ""
    return bool(title) and bool(_RST_UNDERLINE.match(underline)) and len(underline.strip()) >= len(title)


def _first_heading(suffix: str, lines: list[str]) -> str:
    headings = _headings(suffix, lines[:200])
    return headings[0][1] if headings else ""
