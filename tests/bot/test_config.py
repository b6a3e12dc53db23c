"""The config file: every owned section validated, errors naming file and key, other sections kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import EMPTY, ConfigError, load_config, parse_config, parse_duration
from bot.settings import Settings

GOOD = """
routes:
  default: C0DEFAULT
  rules:
    - service: "checkout*"
      severity: critical
      channel: C0CHECKOUT
    - tenant: beta
      channel: C0BETA
escalation:
  critical:
    ack_timeout: 15m
    repeat_every: 1h30m
    max_repeats: 2
    mention: "<!subteam^S123>"
    channel: C0ESCALATE
  WARNING:
    ack_timeout: 3600
workspaces:
  T0123: acme
slos:
  - name: checkout-availability
openslo: ["slos/*.yaml"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ballast.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_config_loads_with_other_sections_kept(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.routes.default == "C0DEFAULT"
    assert [r.channel for r in config.routes.rules] == ["C0CHECKOUT", "C0BETA"]
    assert config.routes.rules[0].severity == ("critical",)
    critical = config.policy("critical")
    assert critical is not None
    assert (critical.ack_timeout, critical.repeat_every, critical.max_repeats) == (
        timedelta(minutes=15), timedelta(hours=1, minutes=30), 2)
    assert critical.mention == "<!subteam^S123>"
    warning = config.policy("warning")  # severity keys are case-insensitive
    assert warning is not None and warning.ack_timeout == timedelta(hours=1)
    assert config.policy("info") is None
    assert config.workspaces == {"T0123": "acme"}
    extra = config.model_extra or {}
    assert extra["slos"] == [{"name": "checkout-availability"}] and extra["openslo"] == ["slos/*.yaml"]


@pytest.mark.parametrize(("text", "key", "hint"), [
    ("routes:\n  rules:\n    - service: x\n", "routes.rules.0.channel", "Field required"),
    ("routes:\n  rules:\n    - channel: C1\n      severity: urgent\n", "routes.rules.0.severity", "critical, warning, info"),
    ("routes:\n  defualt: C1\n", "routes.defualt", "Extra inputs"),
    ("escalation:\n  critical:\n    ack_timeout: soon\n", "escalation.critical.ack_timeout", "15m"),
    ("escalation:\n  critical:\n    ack_timeout: 0\n", "escalation.critical.ack_timeout", "more than 0"),
    ("escalation:\n  critical:\n    ack_timeout: 5m\n    max_repeats: 2\n", "escalation.critical", "repeat_every"),
    ("escalation:\n  sev1:\n    ack_timeout: 5m\n", "escalation", "unknown severity 'sev1'"),
    ("escalation:\n  critical:\n    ack_timeout: 5m\n    max_repeats: -1\n", "escalation.critical.max_repeats", ""),
    ("workspaces:\n  T1: ''\n", "workspaces", "needs a tenant"),
])
def test_a_bad_key_is_named_with_the_file(tmp_path: Path, text: str, key: str, hint: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: '{key}'"), message
    assert hint in message


def test_broken_yaml_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, "routes:\n  default: [C1\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+, column \d+"):
        load_config(path)


def test_a_list_at_the_top_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- routes\n"))


def test_a_missing_file_named_by_the_setting_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_no_file_and_an_empty_file_are_the_empty_config(tmp_path: Path) -> None:
    assert load_config(None) == EMPTY
    assert load_config(write(tmp_path, "")).routes.rules == ()


def test_the_settings_pick_up_ballast_yaml_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().resolved_config_file is None
    write(tmp_path, GOOD)
    found = Settings().resolved_config_file
    assert found is not None and load_config(found).routes.default == "C0DEFAULT"


@pytest.mark.parametrize(("raw", "seconds"), [(90, 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800),
                                              (0.5, 0.5)])
def test_durations(raw: object, seconds: float) -> None:
    assert parse_duration(raw).total_seconds() == seconds


@pytest.mark.parametrize("raw", ["", "m", "15 minutes", -5, True, "0s", None])
def test_bad_durations(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(raw)


def test_the_example_config_in_the_repo_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "ballast.example.yaml"
    config = load_config(example)
    assert config.routes.rules and config.routes.default and config.escalation and config.workspaces
    assert parse_config(None) == EMPTY
