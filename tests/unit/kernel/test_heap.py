"""`shared.heap`: what a started process leaves to the garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared import heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settling_freezes_what_lives_and_collects_what_does_not(restored_collector: None) -> None:
    alive = [_Cycle() for _ in range(100)]
    living = sum(1 for o in gc.get_objects() if isinstance(o, _Cycle))
    for _ in range(50):
        _Cycle()  # unreachable cycles: only the cyclic collector frees them
    assert sum(1 for o in gc.get_objects() if isinstance(o, _Cycle)) > living

    heap.settle_after_start()

    assert gc.get_freeze_count() > len(alive)
    # Frozen objects are out of the generations a collection walks; the garbage is gone.
    assert not any(isinstance(o, _Cycle) for o in gc.get_objects())
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    gc.unfreeze()
    assert sum(1 for o in gc.get_objects() if isinstance(o, _Cycle)) == len(alive)
