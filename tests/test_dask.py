"""Tests of the Dask plumbing (magnetar._dask)."""

import os

import pytest

from magnetar._dask import WORKER_MALLOC, close_client, local_client, open_client
from magnetar.errors import ValidationError


def _worker_settings():
    import dask

    return ({name: os.environ.get(name) for name in WORKER_MALLOC},
            dask.config.get("distributed.worker.profile.enabled"))


def test_local_workers_keep_freed_memory_and_do_not_profile():
    pytest.importorskip("distributed")
    client = local_client(1)
    try:
        (environ, profiling), = client.run(_worker_settings).values()
    finally:
        close_client(client)
    # distributed's default (65536) would return every freed block to the system
    assert environ == {name: str(value) for name, value in WORKER_MALLOC.items()}
    assert int(environ["MALLOC_TRIM_THRESHOLD_"]) >= 2**20
    assert profiling is False


def test_one_local_worker_starts_nothing_and_bad_counts_are_refused():
    assert open_client(workers=1) is None
    for bad in (0, 1.5, True):
        with pytest.raises(ValidationError, match="--workers"):
            open_client(workers=bad)
