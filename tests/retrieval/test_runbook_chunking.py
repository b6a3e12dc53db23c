"""Runbook files: front matter, heading chunks, alert names, and files that cannot be indexed."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.runbooks import (
    MAX_BYTES,
    RunbookFileError,
    alert_names,
    parse_runbook,
    read_runbook,
    runbook_files,
    split_camel,
    split_front_matter,
)

DOC = """---
title: Disk filling up
alerts: [DiskAlmostFull, NodeFilesystemSpaceFillingUp]
severity: warning
tags: [disk]
interventions: [expand_volume]
---
# Disk filling up

## Meaning

The volume is nearly full.

## Diagnosis

```bash
# not a heading: a shell comment
df -h
```

### Find big files

Use du.
"""


def test_front_matter_and_heading_paths() -> None:
    book = parse_runbook("platform/DiskFull", DOC)
    assert book.title == "Disk filling up"
    assert book.alerts == ("DiskAlmostFull", "NodeFilesystemSpaceFillingUp")
    assert book.interventions == ("expand_volume",)
    sections = [c.section for c in book.chunks]
    assert sections == ["Disk filling up > Meaning", "Disk filling up > Diagnosis",
                        "Disk filling up > Diagnosis > Find big files"]
    assert "# not a heading" in book.chunks[1].text
    assert [c.ordinal for c in book.chunks] == [0, 1, 2]


def test_no_front_matter_uses_the_first_heading_as_title() -> None:
    book = parse_runbook("general/Thing", "# Thing happened\n\nSome text.\n")
    assert book.title == "Thing happened"
    assert book.chunks[0].text == "Some text."


@pytest.mark.parametrize("text", ["---\ntitle: [unclosed\n---\n# X\n\nbody\n", "---\ntitle: x\n# never closed\n"])
def test_broken_front_matter_is_reported_and_the_body_still_indexed(text: str) -> None:
    meta, body, problem = split_front_matter(text)
    assert meta == {} and problem
    book = parse_runbook("a/B", text)
    assert book.warnings and book.chunks


def test_long_sections_are_cut_into_windows() -> None:
    body = "# T\n\n## Long\n\n" + "\n\n".join("word " * 100 for _ in range(10))
    book = parse_runbook("a/T", body)
    assert len(book.chunks) > 3
    assert all(len(c.text) <= 1200 for c in book.chunks)
    assert {c.section for c in book.chunks} == {"T > Long"}


def test_alert_names_prefer_the_file_name() -> None:
    names = alert_names("KubePodCrashLooping", ("PodRestarting",), "KubePodNotReady")
    assert names == {"KubePodNotReady": 1, "PodRestarting": 2, "KubePodCrashLooping": 3}
    assert alert_names("Watchdog", (), "Watchdog") == {"Watchdog": 3}
    assert alert_names("etcdNoLeader", (), None) == {"etcdNoLeader": 3}
    assert alert_names("overview", (), "Overview of things") == {}
    assert split_camel("KubeAPIErrorBudgetBurn") == "Kube API Error Budget Burn"


def test_bad_files_raise_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "binary.md").write_bytes(b"\x89PNG\x00\x00binary")
    (tmp_path / "latin1.md").write_bytes("caf\xe9 au lait".encode("latin-1"))
    for name, reason in (("empty.md", "empty"), ("binary.md", "binary"), ("latin1.md", "UTF-8")):
        with pytest.raises(RunbookFileError, match=reason):
            read_runbook(tmp_path / name, tmp_path)


def test_a_huge_file_is_cut_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_text("# Big\n\n" + ("lorem ipsum dolor sit amet\n\n" * 200_000))
    assert path.stat().st_size > 5_000_000
    book = read_runbook(path, tmp_path)
    assert any("only the first" in w for w in book.warnings)
    cut = [w for w in book.warnings if "sections" in w]
    assert len(cut) == 1 and cut[0].endswith("sections: only the first 300 are indexed")
    assert [c.ordinal for c in book.chunks] == list(range(300))
    assert sum(len(c.text) for c in book.chunks) <= MAX_BYTES


def test_files_are_found_recursively_with_posix_ids(tmp_path: Path) -> None:
    (tmp_path / "k8s" / "deep").mkdir(parents=True)
    (tmp_path / "k8s" / "deep" / "A.md").write_text("# A\n\ntext\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "B.md").write_text("# B\n")
    (tmp_path / "notes.txt").write_text("x")
    files = runbook_files(tmp_path)
    assert [read_runbook(p, tmp_path).id for p in files] == ["k8s/deep/A"]
