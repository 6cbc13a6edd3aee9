"""run_tasks: order, chunking, shared data once per worker, executors, progress, messages."""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import mixedkit as mk
from mixedkit.parallel import run_tasks, spawn_seeds


def where_and_what(shared, items):
    """Per item: (the item doubled, this process, the shared object's identity)."""
    return [(2 * i, os.getpid(), id(shared)) for i in items]


def seeded_draws(scale, seeds):
    return [scale * np.random.default_rng(s).standard_normal() for s in seeds]


def fails_on_seven(items):
    if 7 in items:
        raise ZeroDivisionError("item 7")
    return list(items)


def interrupted_on_seven(items):
    if 7 in items:
        raise KeyboardInterrupt("item 7")  # Ctrl-C
    return list(items)


class CountingExecutor(Executor):
    """A serial executor that counts submissions."""

    def __init__(self):
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        from concurrent.futures import Future

        self.submitted += 1
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_results_follow_the_items_whatever_the_chunking():
    items = list(range(103))
    for n_jobs in (1, 2, 5):
        out = run_tasks(where_and_what, ("data",), items, n_jobs=n_jobs, progress=False)
        assert [r[0] for r in out] == [2 * i for i in items]


def test_shared_data_reaches_each_worker_once():
    shared = np.arange(100_000.0)
    out = run_tasks(where_and_what, (shared,), list(range(64)), n_jobs=2, progress=False)
    per_process = {}
    for _, pid, ident in out:
        per_process.setdefault(pid, set()).add(ident)
    assert pid != os.getpid() and 1 <= len(per_process) <= 2
    # every chunk a worker ran saw the same copy: it was sent once, not per chunk
    assert all(len(ids) == 1 for ids in per_process.values())


def test_shared_data_reaches_each_dask_worker_once(dask_client):
    out = run_tasks(where_and_what, (np.arange(1000.0),), list(range(64)),
                    executor=dask_client, progress=False)
    per_process = {}
    for _, pid, ident in out:
        per_process.setdefault(pid, set()).add(ident)
    assert os.getpid() not in per_process
    assert all(len(ids) == 1 for ids in per_process.values())


def test_ten_thousand_items_make_few_tasks():
    ex = CountingExecutor()
    out = run_tasks(where_and_what, (None,), range(10_000), executor=ex, n_jobs=2,
                    progress=False)
    assert len(out) == 10_000 and ex.submitted == 16


def test_same_seeds_same_draws_on_every_executor(dask_client):
    seeds = spawn_seeds(42, 50)
    serial = run_tasks(seeded_draws, (2.0,), seeds, n_jobs=1, progress=False)
    with ThreadPoolExecutor(3) as ex:
        threads = run_tasks(seeded_draws, (2.0,), seeds, executor=ex, progress=False)
    with ProcessPoolExecutor(2) as ex:
        processes = run_tasks(seeded_draws, (2.0,), seeds, executor=ex, progress=False)
    dask = run_tasks(seeded_draws, (2.0,), seeds, executor=dask_client.get_executor(),
                     progress=False)
    assert serial == threads == processes == dask
    assert serial == [2.0 * np.random.default_rng(s).standard_normal() for s in seeds]


def test_a_generator_seed_is_used_in_its_state():
    a = spawn_seeds(np.random.default_rng(1), 3)
    b = spawn_seeds(np.random.default_rng(1), 3)
    assert [s.generate_state(1)[0] for s in a] == [s.generate_state(1)[0] for s in b]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_an_error_in_a_task_reaches_the_caller(n_jobs):
    with pytest.raises(ZeroDivisionError, match="item 7"):
        run_tasks(fails_on_seven, (), list(range(10)), n_jobs=n_jobs, progress=False)


def slow_items(items):
    time.sleep(0.04 * len(items))
    return list(items)


def test_a_run_longer_than_the_delay_shows_a_progress_bar(capsys, monkeypatch):
    from mixedkit import parallel

    monkeypatch.setattr(parallel, "PROGRESS_DELAY", 0.2)  # the run takes about 0.4 s
    run_tasks(slow_items, (), list(range(10)), n_jobs=1, label="power simulation")
    err = capsys.readouterr().err
    assert re.search(r"power simulation: 100%\|.*\| 10/10 \[.*fits/s\]", err), err
    # the bar appeared during the run (not at 0: 0.2 s in) and moved before the end
    counts = [int(n) for n in re.findall(r"(\d+)/10 ", err)]
    assert counts[0] > 0 and any(n < 10 for n in counts) and counts[-1] == 10


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_progress_counts_every_item_once(capsys, monkeypatch, n_jobs):
    from mixedkit import parallel

    monkeypatch.setattr(parallel, "PROGRESS_DELAY", 0)
    run_tasks(where_and_what, (None,), list(range(37)), n_jobs=n_jobs, label="fit_many")
    counts = [int(n) for n in re.findall(r"(\d+)/37 ", capsys.readouterr().err)]
    assert counts[0] == 0 and counts[-1] == 37 and counts == sorted(counts)


def test_short_runs_and_progress_false_show_nothing(capsys, monkeypatch):
    from mixedkit import parallel

    run_tasks(where_and_what, (None,), list(range(20)), n_jobs=1)  # under the 2 s delay
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(parallel, "PROGRESS_DELAY", 0)
    for n_jobs in (1, 2):
        run_tasks(slow_items, (), list(range(4)), n_jobs=n_jobs, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("error, task", [(ZeroDivisionError, fails_on_seven),
                                         (KeyboardInterrupt, interrupted_on_seven)])
def test_the_progress_bar_is_closed_when_a_run_stops(capsys, monkeypatch, error, task):
    from tqdm.auto import tqdm

    from mixedkit import parallel

    monkeypatch.setattr(parallel, "PROGRESS_DELAY", 0)
    before = len(tqdm._instances)
    with pytest.raises(error, match="item 7"):
        run_tasks(task, (), list(range(10)), n_jobs=1)
    assert len(tqdm._instances) == before
    assert capsys.readouterr().err.endswith("\n")  # the bar's line was finished


@pytest.mark.parametrize("kwargs, error, match", [
    ({"executor": "processes"}, mk.InputTypeError,
     r"executor must be a concurrent.futures.Executor .* got str"),
    ({"n_jobs": 0}, mk.InputValueError, r"n_jobs must be a positive integer or None; got 0"),
    ({"n_jobs": 2.5}, mk.InputTypeError, r"n_jobs must be a positive integer or None"),
])
def test_messages(kwargs, error, match):
    with pytest.raises(error, match=match):
        run_tasks(where_and_what, (None,), [1, 2], progress=False, **kwargs)


def test_seed_must_be_usable():
    with pytest.raises(mk.InputTypeError, match=r"seed must be None, an integer"):
        spawn_seeds("abc", 2)
