"""Sweeps: chunking-independence, resume after interruption, Dask LocalCluster = serial,
a worker killed mid-sweep."""

import os
import signal
import warnings

import polars as pl
import pytest

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.design import landmark_chunk, schedule_chunk
from mrdtrack.simulate.params import load_params
from mrdtrack.simulate.sweep import plan_chunks, read_results, run_sweep

warnings.filterwarnings("ignore", category=RuntimeWarning)
P = load_params()
POINTS = [
    {"params": P, "n_patients": 60, "extra_followup_months": 0.0},
    {"params": P, "n_patients": 60, "extra_followup_months": 12.0},
]


def _serial(tmp_path, chunk_size=4):
    return run_sweep(
        landmark_chunk, POINTS, n_replicates=12, out=tmp_path / "serial", chunk_size=chunk_size
    ).results


def test_results_do_not_depend_on_chunking(tmp_path):
    a = _serial(tmp_path, 4)
    b = run_sweep(landmark_chunk, POINTS, n_replicates=12, out=tmp_path / "b", chunk_size=5)
    assert a.equals(b.results)
    assert a.height == 24 and a["replicate"].to_list()[:12] == list(range(12))


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    out = tmp_path / "run"

    def interrupt_after_two(chunk):
        if len(list((out / "chunks").glob("*.parquet"))) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            landmark_chunk,
            POINTS,
            n_replicates=12,
            out=out,
            chunk_size=4,
            on_chunk=interrupt_after_two,
        )
    assert read_results(out).height == 8
    resumed = run_sweep(landmark_chunk, POINTS, n_replicates=12, out=out, chunk_size=4)
    assert resumed.reused == 2 and resumed.computed == len(plan_chunks(2, 12, 4)) - 2
    assert "reused from disk 2" in resumed.summary()
    assert resumed.results.equals(_serial(tmp_path))


def test_resume_with_another_definition_is_refused(tmp_path):
    run_sweep(landmark_chunk, POINTS[:1], n_replicates=4, out=tmp_path / "x", chunk_size=4)
    with pytest.raises(MrdtrackError, match="different sweep"):
        run_sweep(landmark_chunk, POINTS, n_replicates=4, out=tmp_path / "x", chunk_size=4)


def test_process_pool_equals_serial(tmp_path):
    pts = [{"params": P, "interval_months": m} for m in (12.0, 6.0)]
    a = run_sweep(schedule_chunk, pts, n_replicates=6, out=tmp_path / "s", chunk_size=3)
    b = run_sweep(schedule_chunk, pts, n_replicates=6, out=tmp_path / "p", chunk_size=3, workers=2)
    assert a.results.equals(b.results)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as lc,
        distributed.Client(lc) as client,
    ):
        yield client


def test_local_cluster_equals_serial(tmp_path, cluster):
    d = run_sweep(
        landmark_chunk,
        POINTS,
        n_replicates=12,
        out=tmp_path / "dask",
        chunk_size=4,
        client=cluster,
    )
    assert d.results.equals(_serial(tmp_path))


def test_scheduler_address_equals_serial(tmp_path, cluster):
    # the --scheduler tcp://HOST:PORT path: connect to an existing scheduler by its address
    address = cluster.scheduler.address
    assert address.startswith("tcp://")
    d = run_sweep(
        landmark_chunk,
        POINTS,
        n_replicates=12,
        out=tmp_path / "tcp",
        chunk_size=4,
        scheduler=address,
    )
    assert d.results.equals(_serial(tmp_path))


def test_worker_killed_mid_sweep(tmp_path, cluster):
    big = [{"params": P, "n_patients": 1500, "extra_followup_months": 0.0}]
    killed = []

    calls = []

    def kill_busy_worker(chunk):
        calls.append(chunk)
        if killed:
            return
        # a worker with tasks in flight; when a chunk finishes while none is busy, try again at
        # the next one (after a few, any worker: the sweep must survive either way)
        targets = [w for w, tasks in cluster.processing().items() if tasks][:1]
        if not targets and len(calls) >= 4:
            targets = list(cluster.scheduler_info()["workers"])[:1]
        pids = cluster.run(os.getpid, workers=targets) if targets else {}
        if pids:
            victim = next(iter(pids.values()))
            os.kill(victim, signal.SIGKILL)  # the nanny restarts it; its tasks run elsewhere
            killed.append(victim)

    kw = {"n_replicates": 16, "chunk_size": 1}
    d = run_sweep(
        landmark_chunk, big, out=tmp_path / "kill", client=cluster, on_chunk=kill_busy_worker, **kw
    )
    assert killed
    serial = run_sweep(landmark_chunk, big, out=tmp_path / "serial_big", **kw)
    assert d.computed == 16
    assert d.results.equals(serial.results)
    assert isinstance(d.results, pl.DataFrame)
