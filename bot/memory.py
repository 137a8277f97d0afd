"""The cycle collector's settings for the running server (`totruong run`).

CPython's collector looks at the youngest objects after every 700 net allocations of container
objects, and promotes what survives. Under many concurrent users each request's objects (the
HTTP request, the database session, psycopg's cursors, the replies) live for the hundreds of
milliseconds the request is in flight, so they survive those passes, are promoted and make the
older generations' passes long: at 200 users filing forms on PostgreSQL the collector took 21% of
the app's CPU (5.5 of 26.4 s in one run of `python -m bench load`; 1,937 young, 176 middle and 16
full passes). Nearly everything here is freed by reference counting anyway; the collector is only
needed for cycles, which a larger threshold still collects, in fewer and cheaper passes.
"""

from __future__ import annotations

import gc

# Net allocations between passes over the youngest objects (CPython's default: 700), and the
# passes of each generation between passes over the next (defaults 10 and 10).
THRESHOLDS = (20_000, 20, 20)


def settle_after_start() -> None:
    """Moves what start-up built (modules, forms, catalogs, settings) out of the collector's sight
    and makes its passes rarer; call once the app is up, before serving."""
    gc.collect()
    gc.freeze()  # start-up's objects live as long as the process: never scanned again
    gc.set_threshold(*THRESHOLDS)
