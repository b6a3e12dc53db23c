"""Masking: token classes become placeholders, vocabulary stays; template similarity and alignment."""

from __future__ import annotations

import pytest

from retrieval.masking import (clean_chat, differing_tokens, is_variable, mask, template_alignment,
                               template_similarity, template_tokens)


@pytest.mark.parametrize(("raw", "masked"), [
    ("conn from 192.168.10.4:5521 closed", "conn from <ip> closed"),
    ("job 3f2a9c1e-0b7d-4e11-9a2b-5c6d7e8f9a0b done", "job <uuid> done"),
    ("mail to ops@example.org bounced", "mail to <email> bounced"),
    ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8 pushed", "commit <hex> pushed"),
    ("at 2031-04-05T06:07:08Z retry 3 of 10", "at <time> retry <num> of <num>"),
    ("pod checkout-7d9c6bbf5d-x2k4q restarted", "pod checkout-<pod> restarted"),
])
def test_mask_replaces_each_token_class(raw: str, masked: str) -> None:
    assert mask(raw) == masked


def test_long_camel_case_name_is_vocabulary_not_a_token() -> None:
    # Two different alert names of 24+ letters must not both become one placeholder.
    first = mask("QueueConsumerFallingBehindOnShards firing")
    second = mask("StorageVolumeAlmostFullOnReplicaNode firing")
    assert first != second
    assert "QueueConsumerFallingBehindOnShards" in first


def test_mixed_token_with_digits_is_masked() -> None:
    assert mask("session aZ3kLm9QpR2sT8uV4wX6yB1c expired") == "session <token> expired"


def test_repeated_values_fold_into_one_variable() -> None:
    assert mask("evict blk_11 blk_12 blk_13 now") == mask("evict blk_99 now")


def test_clean_chat_drops_markup_and_keeps_link_labels() -> None:
    text = "<@U123ABC> <!here> see <https://x.example/a|the dashboard> in <#C42|ops-war-room> :fire: a &gt; b"
    cleaned = clean_chat(text)
    assert "<@" not in cleaned and ":fire:" not in cleaned
    assert "the dashboard" in cleaned and "#ops-war-room" in cleaned and "a > b" in cleaned


def test_clean_chat_keeps_clock_times_whole() -> None:
    assert "09:02:11" in clean_chat("pasted: 2026-11-27 09:02:11 ERROR pool exhausted :sob:")
    assert ":+1:" not in clean_chat("thanks :+1:")


def test_template_similarity_counts_equal_positions() -> None:
    a = template_tokens(mask("Rejected login for alice from 10.0.0.1"))
    b = template_tokens(mask("Rejected login for bob from 10.0.0.2"))
    assert template_similarity(a, b) == pytest.approx(5 / 6)
    assert differing_tokens(a, b) == [("alice", "bob")]
    assert template_similarity(a, a[:-1]) == 0.0


def test_placeholders_of_different_classes_still_align() -> None:
    a = template_tokens("peer <ip> gone")
    b = template_tokens("peer <num> gone")
    assert is_variable("<ip>") and not is_variable("blk_<num>")
    assert template_similarity(a, b) == 1.0


def test_alignment_sees_an_inserted_word_as_a_difference() -> None:
    a = template_tokens(mask("queue lag 50 msgs on prod-eu since 10:00"))
    same = template_tokens(mask("queue lag 70 msgs on prod-eu since 11:30"))
    other = template_tokens(mask("queue lag 70 msgs on staging prod-eu since 11:30"))
    assert template_alignment(a, same) == (1.0, False)
    ratio, differs = template_alignment(a, other)
    assert differs and 0.6 < ratio < 1.0
