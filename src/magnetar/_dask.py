"""Dask plumbing shared by the archive-scale paths (cleaning, IAR catalogue).

Dask schedules the tasks; this module only opens a client (a local cluster of
single-threaded worker processes, or an existing scheduler) and runs a list of delayed
tasks with a progress bar. One local worker means no cluster: the tasks run in this process
in Dask's synchronous scheduler.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext

from .errors import ValidationError

__all__ = ["close_client", "compute", "local_client", "open_client"]

LOGGER = logging.getLogger(__name__)

#: glibc malloc settings of local workers (see :func:`local_client`): freed memory up to
#: 1 GiB kept for reuse, blocks under 32 MiB served from the heap, and one arena (tasks run
#: in a worker thread, whose own arenas are 64 MiB heaps mapped and unmapped as they fill).
WORKER_MALLOC = {"MALLOC_TRIM_THRESHOLD_": 2**30, "MALLOC_MMAP_THRESHOLD_": 2**25,
                 "MALLOC_ARENA_MAX": 1}


def open_client(*, workers=1, scheduler=None):
    """Return a Dask client: an existing cluster (``scheduler`` address) or a local one.

    Returns None for one local worker: the tasks then run in this process, in order
    (Dask's synchronous scheduler), with nothing started.
    """
    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        msg = f"--workers must be a whole number of at least 1, got {workers}"
        raise ValidationError(msg)
    if scheduler is None and int(workers) <= 1:
        return None
    try:
        from distributed import Client
    except ImportError as err:
        msg = "--workers/--scheduler need Dask's distributed: pip install 'magnetar[archive]'"
        raise ValidationError(msg) from err
    # the scheduler's and workers' INFO lines would drown magnetar's own progress
    logging.getLogger("distributed").setLevel(max(logging.WARNING,
                                                  logging.getLogger("distributed").level))
    if scheduler is not None:
        return Client(scheduler)
    return local_client(int(workers))


def local_client(workers):
    """Return a client of a new local cluster of ``workers`` single-threaded processes.

    :func:`open_client` uses it for two or more workers; benchmarks use it for one too, to
    compare like with like. Dashboard on a free port, distributed's statistical profiler off
    (it samples every worker thread's stack every 10 ms: on this Python-heavy per-day work
    it cost 30 %, 16.0 vs 12.2 s for one task), and glibc's allocator left to reuse memory
    (:data:`WORKER_MALLOC`): distributed starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``,
    which returns every freed block to the system, so each of the cleaning's many
    temporaries of a few MB is mapped and page-faulted anew; a cleaning task (16 stations x
    3 days of 1-second data) took 17.2-17.6 CPU-seconds in such a worker, 10.5-11.1 with
    these settings, 9.7-11.5 in this process (same machine, interleaved runs). One arena:
    16 stations x 12 days took 27.0-28.5 s with it, 30.0-35.9 s without (8.1 vs 8.8-11.7
    s of kernel time, mostly pages zeroed for new mappings).

    Parameters
    ----------
    workers : int
        Worker processes.

    Returns
    -------
    distributed.Client
        Its ``cluster`` attribute is the cluster (:func:`close_client` closes both).
    """
    import dask
    from distributed import Client, LocalCluster

    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_MALLOC}
    with dask.config.set({"distributed.worker.profile.enabled": False,
                          "distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.WARNING)
    return Client(cluster)


def close_client(client):
    """Close a client and, when it started one, its local cluster."""
    if client is None:
        return
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def compute(tasks, client, *, progress=False, what="tasks"):
    """Results of a list of delayed tasks, in order (on ``client``, or in this process)."""
    import dask

    if client is None:
        from dask.diagnostics import ProgressBar

        LOGGER.info("%s: %d tasks in this process", what, len(tasks))
        with ProgressBar() if progress else nullcontext():
            return list(dask.compute(*tasks, scheduler="synchronous"))
    LOGGER.info("%s: %d tasks on %s", what, len(tasks),
                client.scheduler_info().get("address"))
    futures = client.compute(list(tasks))
    if progress:
        import sys

        from distributed import progress as show

        link = getattr(client, "dashboard_link", None)
        if link:
            print(f"{what}: Dask dashboard at {link}", file=sys.stderr)  # noqa: T201
        show(futures)
    return client.gather(futures)
