"""Runbook files: reading Markdown with optional YAML front matter, and chunking it by heading.

Pure apart from `read_runbook` and `scan_runbooks`, which read files and report the ones they
cannot use instead of raising, so one bad file never stops an index run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 512 * 1024  # longer files are cut here (and reported): a runbook is read by people
MAX_CHUNK_CHARS = 1200
MAX_CHUNKS = 300
SUFFIXES = (".md", ".markdown")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_CAMEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*[a-z][A-Za-z0-9_]*[A-Z][A-Za-z0-9_]*$")  # also etcdNoLeader
_WORD = re.compile(r"^[A-Z][a-z0-9]+$")


@dataclass(frozen=True)
class Chunk:
    """One section of a runbook: its heading path and its text (front matter facts in `meta`)."""

    runbook: str
    ordinal: int
    section: str
    text: str


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    content_hash: str
    alerts: tuple[str, ...] = ()
    heading: str | None = None
    services: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    severity: str | None = None
    interventions: tuple[str, ...] = ()
    chunks: tuple[Chunk, ...] = ()
    warnings: tuple[str, ...] = field(default=())


class RunbookFileError(Exception):
    """A file that cannot be indexed at all; the message says why."""


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int, float)):
        return (str(value),)
    if isinstance(value, list):
        return tuple(str(v) if not isinstance(v, dict) else str(next(iter(v), "")) for v in value if v is not None)
    return ()


def split_front_matter(text: str) -> tuple[dict[str, Any], str, str | None]:
    """(front matter, body, problem); a broken block is dropped and the body still indexed."""
    if not text.startswith("---"):
        return {}, text, None
    end = re.search(r"^(---|\.\.\.)\s*$", text[3:], flags=re.MULTILINE)
    if end is None or not text[3:].startswith(("\n", "\r\n")):
        return {}, text, "front matter starts with --- but never ends: indexed as plain Markdown"
    block, body = text[3 : 3 + end.start()], text[3 + end.end() :]
    try:
        meta = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        return {}, body, f"front matter is not valid YAML{where}: indexed without it"
    if meta is None:
        return {}, body, None
    if not isinstance(meta, dict):
        return {}, body, "front matter is not a mapping: indexed without it"
    return meta, body, None


def _sections(body: str) -> Iterator[tuple[list[str], str]]:
    """(heading path, text) per heading, ignoring `#` lines inside code fences."""
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    fenced = False
    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match is None:
            lines.append(line)
            continue
        yield [h for _, h in path], "\n".join(lines).strip()
        level = len(match.group(1))
        path = [p for p in path if p[0] < level] + [(level, match.group(2).strip())]
        lines = []
    yield [h for _, h in path], "\n".join(lines).strip()


def _windows(text: str, limit: int = MAX_CHUNK_CHARS) -> Iterator[str]:
    """Long sections cut at paragraph breaks (or hard, for one huge paragraph)."""
    current = ""
    for para in re.split(r"\n\s*\n", text):
        while len(para) > limit:
            if current:
                yield current
                current = ""
            yield para[:limit]
            para = para[limit:]
        if current and len(current) + len(para) + 2 > limit:
            yield current
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current.strip():
        yield current


def split_camel(name: str) -> str:
    """`KubePodCrashLooping` -> `Kube Pod Crash Looping`, `TSDBReloads` -> `TSDB Reloads`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return spaced.replace("_", " ")


def alert_names(stem: str, alerts: tuple[str, ...], heading: str | None) -> dict[str, int]:
    """Alert names a runbook answers, with how sure we are: file name 3, front matter 2, top heading 1.

    A file or heading counts when it is written like an alert name (CamelCase), or is one
    capitalised word that the file name and the top heading agree on (`Watchdog`).
    """
    names: dict[str, int] = {}
    if heading and (_CAMEL.match(heading) or (_WORD.match(heading) and heading == stem)):
        names[heading] = 1
    for name in alerts:
        names[name] = 2
    if _CAMEL.match(stem) or (_WORD.match(stem) and stem == heading):
        names[stem] = 3
    return names


def parse_runbook(runbook_id: str, text: str) -> Runbook:
    """A runbook from its Markdown text; raises RunbookFileError when nothing can be indexed."""
    content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    meta, body, problem = split_front_matter(text)
    warnings = [problem] if problem else []
    sections = [(path, txt) for path, txt in _sections(body)]
    headings = [path[0] for path, _ in sections if path]
    title = str(meta.get("title") or (headings[0] if headings else split_camel(runbook_id.rsplit("/", 1)[-1]))).strip()
    chunks: list[Chunk] = []
    for path, txt in sections:
        if not txt and path:
            continue
        section = " > ".join(path) or title
        base = len(chunks)
        chunks.extend([Chunk(runbook_id, base + i, section, piece) for i, piece in enumerate(_windows(txt))])
    if len(chunks) > MAX_CHUNKS:
        warnings.append(f"{len(chunks)} sections: only the first {MAX_CHUNKS} are indexed")
        chunks = chunks[:MAX_CHUNKS]
    if not chunks and not body.strip() and not meta:
        raise RunbookFileError("empty file")
    if not chunks:
        chunks.append(Chunk(runbook_id, 0, title, title))
    return Runbook(
        id=runbook_id, title=title, content_hash=content_hash, heading=headings[0] if headings else None,
        alerts=_strings(meta.get("alerts") or meta.get("alert")),
        services=_strings(meta.get("services")), tags=_strings(meta.get("tags")),
        severity=str(meta["severity"]) if meta.get("severity") else None,
        interventions=_strings(meta.get("interventions")), chunks=tuple(chunks), warnings=tuple(warnings),
    )


def runbook_id(path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return rel.rsplit(".", 1)[0]


def read_runbook(path: Path, root: Path) -> Runbook:
    """Read and parse one file; binary, undecodable and empty files raise RunbookFileError."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RunbookFileError(f"cannot read: {exc.strerror}") from exc
    warnings: list[str] = []
    if len(raw) > MAX_BYTES:
        raw = raw[:MAX_BYTES]
        warnings.append(f"larger than {MAX_BYTES // 1024} KiB: only the first {MAX_BYTES // 1024} KiB is indexed")
    if b"\x00" in raw[:8192]:
        raise RunbookFileError("binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not warnings or exc.start < len(raw) - 4:
            raise RunbookFileError(f"not UTF-8 text (bad byte at offset {exc.start})") from exc
        text = raw[: exc.start].decode("utf-8")  # the cut fell inside a multi-byte character
    if not text.strip():
        raise RunbookFileError("empty file")
    book = parse_runbook(runbook_id(path, root), text.lstrip("\ufeff"))
    if warnings:
        book = Runbook(**{**book.__dict__, "warnings": (*warnings, *book.warnings)})
    return book


def runbook_files(root: Path) -> list[Path]:
    """Markdown files under `root`, recursively, skipping hidden folders, in a stable order."""
    found = [
        p for p in root.rglob("*")
        if p.suffix.lower() in SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found)
