"""The garbage collector in long-running service processes.

What a process loads at start (modules, classes, routes, pools, in-memory models) lives as long
as the process, yet CPython's full collection walks every tracked object again, each time: ~0.2 µs
per object on this kind of machine, so 50,000-150,000 objects after start cost 10-30 ms of CPU per
full collection, and on two cores shared with PostgreSQL, Kafka and the workers these showed as
40-140 ms pauses of the domains API under load (its p99). So once a process has started, it
collects once and moves everything that survived into the permanent generation (`gc.freeze`),
which later collections skip, and lets the young generation grow larger before it is collected,
so that fewer short-lived request objects get promoted into the old generations.

Only the entry points of real processes call this (`python -m services.<name> ...`): in the test
process, apps start and stop all the time and nothing is long-lived.
"""

from __future__ import annotations

import gc

# CPython's defaults are (700, 10, 10); a request allocates a few hundred tracked objects.
YOUNG_THRESHOLD = 20_000


def settle_after_start() -> None:
    gc.collect()  # nothing that is garbage already gets frozen
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
