"""Resumable simulation sweeps: serial, a local process pool, or a Dask distributed cluster.

A sweep evaluates ``fn(point, seed, start, stop)`` for every design point and every chunk of
replicates ``[start, stop)``; ``fn`` returns a polars DataFrame with one row per replicate (a
``replicate`` column included). Replicate ``i`` always draws from the stream ``[seed, i]`` (the
functions in `mrdtrack.simulate.design` do), so the results do not depend on the chunking, the
number of workers or the order in which chunks finish.

Each finished chunk is written at once to ``OUT/chunks/`` as Parquet (written to a temporary
name, then renamed: a chunk file is complete or absent). A sweep that stops (Ctrl-C, a lost
worker, a killed client) is resumed by running it again with the same ``OUT``: finished chunks
are read, not recomputed. ``OUT/sweep.json`` records the sweep's definition; resuming with a
different definition is an error.

Parallel back-ends: ``workers > 0`` uses a local process pool
(`concurrent.futures.ProcessPoolExecutor`); ``scheduler="tcp://HOST:PORT"`` submits to an
existing Dask distributed scheduler, ``scheduler="local"`` starts a `distributed.LocalCluster`;
``client=`` accepts a `distributed.Client`. Dask retries the tasks of a lost worker elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.cluster import dask_client


@dataclass(frozen=True)
class Chunk:
    """One unit of work: design point ``point``, replicates ``start .. stop - 1``."""

    point: int
    start: int
    stop: int

    @property
    def file_name(self) -> str:
        return f"p{self.point:04d}_r{self.start:08d}_{self.stop:08d}.parquet"


def plan_chunks(n_points: int, n_replicates: int, chunk_size: int) -> list[Chunk]:
    """All chunks of a sweep, point-major."""
    if chunk_size < 1 or n_replicates < 1:
        raise ValueError("n_replicates and chunk_size must be >= 1")
    return [
        Chunk(p, s, min(s + chunk_size, n_replicates))
        for p in range(n_points)
        for s in range(0, n_replicates, chunk_size)
    ]


def _run_chunk(fn: Callable, point: dict, seed: int, chunk: Chunk) -> tuple[Chunk, pl.DataFrame]:
    df = fn(point, seed, chunk.start, chunk.stop)
    return chunk, df.with_columns(pl.lit(chunk.point, dtype=pl.Int64).alias("point"))


def _write_chunk(folder: Path, chunk: Chunk, df: pl.DataFrame) -> None:
    tmp = folder / (chunk.file_name + ".tmp")
    df.write_parquet(tmp)
    os.replace(tmp, folder / chunk.file_name)


def _definition(fn: Callable, points: list[dict], seed: int, n_replicates: int, chunk_size: int):
    digest = hashlib.sha256(pickle.dumps(points, protocol=4)).hexdigest()
    return {
        "function": f"{fn.__module__}.{fn.__qualname__}",
        "points_sha256": digest,
        "n_points": len(points),
        "seed": int(seed),
        "n_replicates": int(n_replicates),
        "chunk_size": int(chunk_size),
    }


@dataclass(frozen=True)
class SweepRun:
    """What a call of `run_sweep` did: the results and how many chunks it computed."""

    results: pl.DataFrame
    computed: int
    reused: int
    folder: Path

    def table(self) -> pl.DataFrame:
        """One row per replicate and design point."""
        return self.results

    def summary(self) -> str:
        return (
            f"sweep in {self.folder}: {self.results.height} replicate rows; chunks computed "
            f"{self.computed}, reused from disk {self.reused}"
        )


def run_sweep(
    fn: Callable[[dict, int, int, int], pl.DataFrame],
    points: list[dict],
    *,
    n_replicates: int,
    out: str | Path,
    seed: int = 1,
    chunk_size: int = 50,
    workers: int = 0,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = False,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> SweepRun:
    """Run (or resume) a sweep; return every replicate's row, sorted by point and replicate.

    Parameters
    ----------
    fn : callable
        ``fn(point, seed, start, stop) -> polars.DataFrame`` with a ``replicate`` column; a
        module-level function (it is pickled to workers).
    points : list of dict
        Design points (picklable).
    n_replicates, chunk_size : int
        Replicates per point, and per unit of work.
    out : path
        Results folder; rerunning with the same folder resumes.
    seed : int
        Passed to ``fn``; replicate ``i`` must use the stream ``[seed, i]``.
    workers : int
        Local processes (0 = serial) when no Dask scheduler/client is given.
    scheduler : str, optional
        ``"tcp://HOST:PORT"`` (an existing Dask scheduler) or ``"local"`` (a LocalCluster).
    client : distributed.Client, optional
        Use this Dask client.
    progress : bool
        A progress bar on stderr.
    on_chunk : callable, optional
        Called after each chunk is on disk (tests use it to interrupt).

    Returns
    -------
    SweepRun
        ``results`` (all chunks on disk), ``computed`` and ``reused`` chunk counts.
    """
    folder = Path(out)
    chunks_dir = folder / "chunks"
    chunks_dir.mkdir(parents=True, exist_ok=True)
    definition = _definition(fn, points, seed, n_replicates, chunk_size)
    spec_file = folder / "sweep.json"
    if spec_file.exists():
        old = json.loads(spec_file.read_text(encoding="utf-8"))
        if old != definition:
            raise MrdtrackError(
                f"{spec_file} describes a different sweep; use another --out folder or remove it"
            )
    else:
        spec_file.write_text(json.dumps(definition, indent=1, sort_keys=True), encoding="utf-8")
    for stale in chunks_dir.glob("*.tmp"):
        stale.unlink()
    all_chunks = plan_chunks(len(points), n_replicates, chunk_size)
    pending = [c for c in all_chunks if not (chunks_dir / c.file_name).exists()]
    reused = len(all_chunks) - len(pending)

    bar = _progress(progress, len(all_chunks), reused)
    computed = 0

    def done(chunk: Chunk, df: pl.DataFrame) -> None:
        nonlocal computed
        _write_chunk(chunks_dir, chunk, df)
        computed += 1
        if bar is not None:
            bar[0].advance(bar[1])
        if on_chunk is not None:
            on_chunk(chunk)

    try:
        if pending and (client is not None or scheduler is not None):
            _run_dask(fn, points, seed, pending, done, client, scheduler)
        elif pending and workers > 0:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futs = [pool.submit(_run_chunk, fn, points[c.point], seed, c) for c in pending]
                try:
                    for f in as_completed(futs):
                        done(*f.result())
                except BaseException:
                    for f in futs:
                        f.cancel()
                    raise
        else:
            for c in pending:
                done(*_run_chunk(fn, points[c.point], seed, c))
    finally:
        if bar is not None:
            bar[0].stop()
    return SweepRun(read_results(folder), computed, reused, folder)


def _run_dask(fn, points, seed, pending, done, client, scheduler) -> None:
    # optional heavy dependency (the `distributed` extra), imported only when asked for
    from distributed import as_completed as dask_completed

    with dask_client(client, scheduler=scheduler) as client:
        futs = [
            client.submit(_run_chunk, fn, points[c.point], seed, c, pure=False, retries=2)
            for c in pending
        ]
        try:
            for f in dask_completed(futs):
                done(*f.result())
        except BaseException:
            client.cancel(futs)
            raise


def read_results(out: str | Path) -> pl.DataFrame:
    """Every finished chunk of a sweep folder, sorted by point and replicate."""
    files = sorted((Path(out) / "chunks").glob("*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical").sort(
        ["point", "replicate"]
    )


def _progress(enabled: bool, total: int, already: int):
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import Progress

    p = Progress(console=Console(stderr=True), transient=True)
    task = p.add_task("simulating", total=total, completed=already)
    p.start()
    return p, task
