"""The real `ballast` CLI in a subprocess: `ingest` and `incidents`, as CONTRACT.md prints them.

`ingest` runs the real all-MiniLM-L6-v2 (ONNX, fast to load): those tests are marked `model`.
The `incidents` tests seed the data dir in-process with the fake embedder and need no model.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_services
from bot.settings import Settings
from retrieval.embedder import DIM
from retrieval.index import EdgeIndex
from retrieval.signal import signal_from_mapping
from tests.conftest import ballast_exe, cli_env
from tests.fakes.embedder import HashEmbedder

INCIDENT_FIELDS = {"id", "tenant", "title", "service", "severity", "status", "occurrence_count", "first_seen",
                   "last_seen", "runbook", "regression_of"}
RESULT_FIELDS = {"id", "incident_id", "decision", "similarity", "runbook"}
TIMEOUT = 180  # a hang guard for the subprocess, not a speed check


def ballast(home: Path, *args: str, stdin: bytes | None = None, **env: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run([ballast_exe(), "--data-dir", str(home), *args], input=stdin, env=cli_env(home, **env),
                              capture_output=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - the failure we guard against
        pytest.fail(f"`ballast {' '.join(args)}` did not finish within {TIMEOUT}s (hung?): {exc.stderr!r}")


def json_lines(proc: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    text = proc.stdout.decode("utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        return [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        pytest.fail(f"stdout is not one JSON object per line:\n{text}\nstderr:\n{proc.stderr.decode()}")


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode("utf-8").strip()
    assert err, "no error message on stderr"
    assert len(err.splitlines()) == 1, f"expected a one-line message, got:\n{err}"
    assert "Traceback" not in err
    return err


def jsonl(*rows: dict[str, Any] | bytes | str) -> bytes:
    out = []
    for row in rows:
        if isinstance(row, bytes):
            out.append(row)
        elif isinstance(row, str):
            out.append(row.encode("utf-8"))
        else:
            out.append(json.dumps(row).encode("utf-8"))
    return b"\n".join(out) + b"\n"


# Lines 1..9 (line 4 is blank and produces no output line).
MIXED = jsonl(
    {"id": "first", "text": "GET /api/orders/1881 failed after 5003 ms from 10.0.0.12", "service": "orders"},
    {"id": 7, "text": "disk /dev/sda1 on node worker-3 is 97% full"},
    {"text": "GET /api/orders/42 failed after 12 ms from 10.2.9.1", "service": "orders", "region": "eu"},
    "",
    '{"id": "broken", "text": "unterminated',
    {"id": "no-text", "service": "orders"},
    b'{"id": "latin1", "text": "caf\xe9 down"}',
    '["a", "list"]',
    {"id": 9.0, "text": "disk /dev/sdb1 on node worker-8 is 99% full", "status": "bogus"},
)


def _check_mixed(rows: list[dict[str, Any]]) -> None:
    assert [r["id"] for r in rows] == ["first", 7, 3, 5, "no-text", 7, 8, 9]
    for r in rows:
        assert RESULT_FIELDS <= set(r), r
    first, disk, repeat, broken, no_text, latin1, a_list, bogus = rows
    assert first["decision"] == "new" and isinstance(first["incident_id"], int)
    assert disk["decision"] == "new" and disk["incident_id"] != first["incident_id"]
    assert repeat["decision"] == "duplicate" and repeat["incident_id"] == first["incident_id"]
    assert repeat["similarity"] == 1.0
    for rejected in (broken, no_text, latin1, a_list, bogus):
        assert rejected["decision"] == "rejected", rejected
        assert rejected["incident_id"] is None
        assert rejected["error"], rejected
    assert "JSON" in broken["error"]
    assert "text" in no_text["error"]
    assert "UTF-8" in latin1["error"]
    assert "object" in a_list["error"]
    assert "status" in bogus["error"]


@pytest.mark.model
def test_ingest_file_json_keeps_order_echoes_ids_and_rejects_bad_lines(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(MIXED)
    proc = ballast(home, "ingest", str(path), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    _check_mixed(json_lines(proc))
    assert "ingest:" in proc.stderr.decode()  # the summary goes to stderr, not into the JSON stream


@pytest.mark.model
@pytest.mark.parametrize("batch", ["1", "2", "3", "8"])
def test_small_batches_read_ahead_keep_order_and_the_stream_semantics(tmp_path: Path, home: Path, batch: str) -> None:
    """With batches smaller than the file, each batch is decided while the next one is embedded
    ahead; the output is the same line for line as with one batch."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(MIXED)
    proc = ballast(home, "ingest", str(path), "--json", BALLAST_INGEST_BATCH=batch)
    assert proc.returncode == 0, proc.stderr.decode()
    _check_mixed(json_lines(proc))


@pytest.mark.model
def test_ingest_stdin(home: Path) -> None:
    proc = ballast(home, "ingest", "-", "--json", stdin=MIXED)
    assert proc.returncode == 0, proc.stderr.decode()
    _check_mixed(json_lines(proc))
    # What was reported is stored: the incidents are listed.
    listed = json_lines(ballast(home, "incidents", "list", "--json"))
    assert sorted(i["occurrence_count"] for i in listed) == [1, 2]


@pytest.mark.model
def test_repeated_id_in_one_file_is_rejected(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl({"id": "x", "text": "queue consumer lag above limit"},
                           {"id": "y", "text": "certificate for api expires soon"},
                           {"id": "x", "text": "queue consumer lag above limit"},
                           {"id": "x", "text": "a different text under the same id"}))
    proc = ballast(home, "ingest", str(path), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    rows = json_lines(proc)
    assert [r["decision"] for r in rows] == ["new", "new", "rejected", "rejected"]
    assert all("repeated id" in r["error"] and "line 1" in r["error"] for r in rows[2:])
    listed = json_lines(ballast(home, "incidents", "list", "--json"))
    assert sorted(i["occurrence_count"] for i in listed) == [1, 1]


@pytest.mark.model
def test_rerunning_the_same_file_replays_instead_of_counting_twice(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl({"id": "e1", "text": "payment gateway timeout for merchant"},
                           {"id": "e2", "text": "payment gateway timeout for merchant"}))
    first = json_lines(ballast(home, "ingest", str(path), "--json"))
    second = json_lines(ballast(home, "ingest", str(path), "--json"))
    assert [r["decision"] for r in first] == ["new", "duplicate"]
    assert [(r["decision"], r["incident_id"], r.get("replayed")) for r in second] == [
        (r["decision"], r["incident_id"], True) for r in first]
    [incident] = json_lines(ballast(home, "incidents", "list", "--json"))
    assert incident["occurrence_count"] == 2


@pytest.mark.model
def test_tenant_option_and_truncation_flag(home: Path) -> None:
    lines = jsonl({"text": "x" * 50 + " overflow " + "y" * 500}, {"text": "short line", "tenant": "globex"})
    proc = ballast(home, "ingest", "-", "--json", "--tenant", "acme", stdin=lines, BALLAST_MAX_TEXT_CHARS="100")
    assert proc.returncode == 0, proc.stderr.decode()
    long, short = json_lines(proc)
    assert long["truncated"] is True
    assert "truncated" not in short
    acme = json_lines(ballast(home, "incidents", "list", "--json", "--tenant", "acme"))
    globex = json_lines(ballast(home, "incidents", "list", "--json", "--tenant", "globex"))
    assert [i["id"] for i in acme] == [long["incident_id"]]  # lines without a tenant get --tenant
    assert [i["id"] for i in globex] == [short["incident_id"]]  # a line's own tenant wins


def test_missing_file_exits_1_with_one_line(tmp_path: Path, home: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    proc = ballast(home, "ingest", str(missing), "--json")
    assert proc.returncode == 1
    assert proc.stdout == b""
    err = one_line_error(proc)
    assert str(missing) in err


def test_empty_input_is_processed_with_no_output(home: Path) -> None:
    proc = ballast(home, "ingest", "-", "--json", stdin=b"\n  \n")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""


def test_bad_usage_exits_2(home: Path) -> None:
    proc = ballast(home, "ingest")
    assert proc.returncode == 2


@pytest.mark.model
def test_second_process_on_a_held_data_dir_exits_1_instead_of_hanging(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl({"text": "something broke"}))
    holder = EdgeIndex(home / "qdrant" / "signals", DIM)  # as `ballast serve` would hold it
    try:
        proc = ballast(home, "ingest", str(path), "--json")
    finally:
        holder.close()
    assert proc.returncode == 1
    err = one_line_error(proc)
    assert "in use by another Ballast process" in err
    assert str(home / "qdrant" / "signals") in err
    assert json_lines(proc) == []  # nothing reported stored
    # Nothing was half-stored either, and once released the same file ingests normally.
    assert json_lines(ballast(home, "incidents", "list", "--json")) == []
    again = ballast(home, "ingest", str(path), "--json")
    assert again.returncode == 0
    assert [r["decision"] for r in json_lines(again)] == ["new"]


# -- incidents (seeded in-process with the fake embedder: no model) -------------------------------


@pytest.fixture
def seeded(home: Path) -> dict[str, int]:
    """Three incidents in the data dir: a (2 occurrences), b, and c in tenant acme."""
    svc = build_services(Settings(BALLAST_HOME=home), embedder=HashEmbedder())
    try:
        lines = [{"text": "orders api returns gateway timeout", "service": "orders", "severity": "critical"},
                 {"text": "orders api returns gateway timeout", "service": "orders"},
                 {"text": "inventory sync job stuck on warehouse feed", "title": "Inventory sync stuck"},
                 {"text": "mail queue backlog growing", "tenant": "acme"}]
        signals = [signal_from_mapping(x, max_text_chars=16_000) for x in lines]
        a, _, b, c = svc.intake.process(signals, [1, 2, 3, 4])
    finally:
        svc.close()
    return {"a": a.incident_id, "b": b.incident_id, "c": c.incident_id}  # type: ignore[dict-item]


def _check_incident(obj: dict[str, Any]) -> None:
    assert INCIDENT_FIELDS <= set(obj), f"missing {INCIDENT_FIELDS - set(obj)}"
    assert isinstance(obj["id"], int)
    assert obj["status"] in ("open", "acknowledged", "resolved")
    assert isinstance(obj["occurrence_count"], int)
    for key in ("first_seen", "last_seen"):
        assert obj[key].endswith("Z") or obj[key].endswith("+00:00"), obj[key]


def test_incidents_list_json(home: Path, seeded: dict[str, int]) -> None:
    proc = ballast(home, "incidents", "list", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    rows = json_lines(proc)
    assert {r["id"] for r in rows} == set(seeded.values())
    for r in rows:
        _check_incident(r)
    by_id = {r["id"]: r for r in rows}
    a = by_id[seeded["a"]]
    assert (a["occurrence_count"], a["service"], a["severity"], a["tenant"]) == (2, "orders", "critical", "default")
    assert by_id[seeded["b"]]["title"] == "Inventory sync stuck"
    assert by_id[seeded["c"]]["tenant"] == "acme"
    only_acme = json_lines(ballast(home, "incidents", "list", "--json", "--tenant", "acme"))
    assert [r["id"] for r in only_acme] == [seeded["c"]]


def test_data_dir_beats_ballast_home(tmp_path: Path, home: Path, seeded: dict[str, int]) -> None:
    other = tmp_path / "other-home"
    proc = ballast(home, "incidents", "list", "--json", BALLAST_HOME=str(other))
    assert proc.returncode == 0, proc.stderr.decode()
    assert {r["id"] for r in json_lines(proc)} == set(seeded.values())
    assert not (other / "ballast.db").exists()


def test_incidents_show_json(home: Path, seeded: dict[str, int]) -> None:
    proc = ballast(home, "incidents", "show", str(seeded["a"]), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    [row] = json_lines(proc)
    _check_incident(row)
    assert row["id"] == seeded["a"]
    assert row["regression_of"] is None


def test_incidents_show_unknown_exits_1(home: Path, seeded: dict[str, int]) -> None:
    proc = ballast(home, "incidents", "show", "999", "--json")
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert "999" in one_line_error(proc)


def test_incidents_resolve_json(home: Path, seeded: dict[str, int]) -> None:
    proc = ballast(home, "incidents", "resolve", str(seeded["b"]), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    [row] = json_lines(proc)
    _check_incident(row)
    assert (row["id"], row["status"]) == (seeded["b"], "resolved")
    [shown] = json_lines(ballast(home, "incidents", "show", str(seeded["b"]), "--json"))
    assert shown["status"] == "resolved"
    open_ids = {r["id"] for r in json_lines(ballast(home, "incidents", "list", "--json", "--status", "open"))}
    assert seeded["b"] not in open_ids and seeded["a"] in open_ids


def test_incidents_merge_json(home: Path, seeded: dict[str, int]) -> None:
    proc = ballast(home, "incidents", "merge", str(seeded["a"]), str(seeded["b"]), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    [row] = json_lines(proc)
    _check_incident(row)
    assert (row["id"], row["occurrence_count"]) == (seeded["b"], 3)
    listed = {r["id"] for r in json_lines(ballast(home, "incidents", "list", "--json"))}
    assert seeded["a"] not in listed


@pytest.mark.parametrize("args", [("merge", "A", "A"), ("merge", "A", "C"), ("merge", "A", "999"), ("resolve", "999")])
def test_incidents_refusals_exit_1_with_one_line(home: Path, seeded: dict[str, int], args: tuple[str, ...]) -> None:
    resolved = [str(seeded[a.lower()]) if a in ("A", "C") else a for a in args]
    proc = ballast(home, "incidents", *resolved, "--json")
    assert proc.returncode == 1, proc.stdout.decode()
    assert proc.stdout == b""
    one_line_error(proc)
