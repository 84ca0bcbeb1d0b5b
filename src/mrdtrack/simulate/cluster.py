"""Dask clients for the simulator's parallel work (calibration, design sweeps): one place that
opens a cluster when none is given and closes what it opened.

`distributed` (dask.org) is an optional dependency (the ``distributed`` extra): it is imported
only when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any


def local_cluster(workers: int | None = None) -> Any:
    """A Dask LocalCluster of ``workers`` single-threaded processes (None: one per core).

    Dask's default worker environment sets ``MALLOC_TRIM_THRESHOLD_=65536`` (memory handed back
    to the system at once); a simulation allocates and frees its trials' arrays thousands of
    times, and that setting cost 20-30% more CPU per calibration evaluation on a worker than in
    this process (measured). These workers keep the C library's default; on a cluster of your
    own, unset it in the workers' environment (``distributed.nanny.pre-spawn-environ``).
    """
    # optional heavy dependencies (the `distributed` extra), imported only when asked for
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: no clash with another cluster
            silence_logs=logging.ERROR,
        )


@contextlib.contextmanager
def dask_client(
    client: Any = None, *, scheduler: str | None = None, workers: int | None = None
) -> Iterator[Any]:
    """Yield ``client`` if given; else a Client on ``scheduler`` (``"tcp://HOST:PORT"``, an
    existing scheduler), or, for ``scheduler`` None or ``"local"``, on `local_cluster`
    (``workers`` processes). A client or cluster opened here is closed on exit."""
    if client is not None:
        yield client
        return
    # optional heavy dependency (the `distributed` extra), imported only when asked for
    from distributed import Client

    cluster = None if scheduler not in (None, "local") else local_cluster(workers)
    try:
        with Client(scheduler if cluster is None else cluster) as own:
            yield own
    finally:
        if cluster is not None:
            cluster.close()
