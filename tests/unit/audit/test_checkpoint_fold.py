"""Folding published checkpoints: parts, retried rounds, gaps and digests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from shared.audit.checkpoints import Checkpoint, digest_hex, digest_of, fold_checkpoints


def h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def checkpoint(
    sequence: int, heads: list[tuple[str, int, bytes]], everything: dict[str, tuple[int, bytes]], cid: str
) -> Checkpoint:
    for s, v, x in heads:
        everything[s] = (v, x)
    return Checkpoint(
        service="contacts",
        store="store-1",
        checkpoint_id=cid,
        sequence=sequence,
        taken_at=datetime(2026, 1, 1, tzinfo=UTC),
        snapshot=f"{sequence}:{sequence}:",
        previous_snapshot="1:1:",
        event_count=sum(v for v, _ in everything.values()),
        stream_count=len(everything),
        digest=digest_hex(digest_of((s, v, x) for s, (v, x) in everything.items())),
        heads=heads,
    )


def test_parts_are_assembled_and_heads_folded() -> None:
    state: dict[str, tuple[int, bytes]] = {}
    first = checkpoint(1, [(f"s{i}", 2, h(f"a{i}")) for i in range(5)], state, "00000000-0000-0000-0000-000000000001")
    second = checkpoint(2, [("s1", 4, h("b1")), ("new", 1, h("n"))], state, "00000000-0000-0000-0000-000000000002")
    messages = first.messages(parts_of=2) + second.messages(parts_of=1)
    assert len(messages) == 3 + 2
    log = fold_checkpoints("contacts", messages)
    assert log.problems == []
    assert [c.sequence for c in log.checkpoints] == [1, 2]
    assert log.heads["s1"] == (4, h("b1"))
    assert log.heads["s0"] == (2, h("a0"))
    assert log.heads["new"] == (1, h("n"))
    assert log.observations["s1"] == {2: h("a1"), 4: h("b1")}


def test_torn_lost_and_altered_checkpoints_are_reported() -> None:
    state: dict[str, tuple[int, bytes]] = {}
    first = checkpoint(1, [("a", 1, h("a")), ("b", 3, h("b"))], state, "00000000-0000-0000-0000-00000000000a")
    second = checkpoint(2, [("a", 2, h("a2"))], state, "00000000-0000-0000-0000-00000000000b")
    third = checkpoint(3, [("b", 4, h("b4"))], state, "00000000-0000-0000-0000-00000000000c")
    torn = second.messages(parts_of=1)
    torn[0]["parts"] = 2
    log = fold_checkpoints("contacts", first.messages() + torn + third.messages())
    assert any("incomplete" in p for p in log.problems)
    assert any("missing" in p for p in log.problems)
    assert any("digest" in p for p in log.problems)


def test_a_retried_round_supersedes_its_first_attempt() -> None:
    state: dict[str, tuple[int, bytes]] = {}
    first = checkpoint(1, [("a", 1, h("a"))], state, "00000000-0000-0000-0000-000000000001")
    attempt = checkpoint(2, [("a", 2, h("a2"))], dict(state), "00000000-0000-0000-0000-000000000002")
    retried = checkpoint(2, [("a", 3, h("a3"))], state, "00000000-0000-0000-0000-000000000003")
    log = fold_checkpoints(
        "contacts", first.messages() + attempt.messages() + retried.messages() + [{"service": "billing"}]
    )
    assert log.problems == []
    assert log.heads["a"] == (3, h("a3"))
    assert log.observations["a"] == {1: h("a"), 2: h("a2"), 3: h("a3")}


def test_only_the_stores_own_checkpoints_count() -> None:
    state: dict[str, tuple[int, bytes]] = {}
    first = checkpoint(1, [("a", 1, h("a"))], state, "00000000-0000-0000-0000-000000000001")
    assert fold_checkpoints("contacts", first.messages()).store == "store-1"
    stranger = fold_checkpoints("contacts", first.messages(), "store-9")
    assert stranger.checkpoints == []
    assert any("identity" in p for p in stranger.problems)
