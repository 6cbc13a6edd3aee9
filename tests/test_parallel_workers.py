"""run_tasks when a worker process dies: the unfinished chunks re-run on a fresh pool.

A worker is killed the way the out-of-memory killer does it (SIGKILL; ``os._exit`` where
there is no SIGKILL), from inside the task, so the moment is deterministic: a marker file
in ``tmp_path`` makes the kill happen once (or ``always_dies`` every time). The tasks only
ever kill a worker process, never the test's own.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import mixedkit as mk
from mixedkit import parallel
from mixedkit.errors import WorkerLostError, WorkerWarning
from mixedkit.parallel import run_tasks
from mixedkit.scale import power

KILLED = (r"killed by SIGKILL, as the system's out-of-memory killer does" if hasattr(
    signal, "SIGKILL") else r"exited with code 1")
MARKERS = "MIXEDKIT_TEST_MARKERS"  # the folder of the end-to-end test's marker files


def _die() -> None:
    if multiprocessing.parent_process() is None:  # never the test's own process
        raise RuntimeError("a test task tried to kill the main process")
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(1)


def _first_time(marker: Path) -> bool:
    """True for exactly one caller across processes (the file is created atomically)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def dies_once_at_five(folder, items):
    """Squares; the worker that first meets item 5 dies. Logs every run of an item."""
    out = []
    for i in items:
        if i == 5 and multiprocessing.parent_process() is not None \
                and _first_time(Path(folder) / "killed"):
            _die()
        with open(Path(folder) / f"ran-{i}", "a") as log:
            log.write("x")
        time.sleep(0.01)
        out.append(i * i)
    return out


def always_dies(items):
    _die()


def power_chunk_dying_once(scenarios, items):
    """power's chunk function; the first worker to start a chunk after two chunks have
    finished dies there."""
    folder = Path(os.environ[MARKERS])
    if multiprocessing.parent_process() is not None \
            and len(list(folder.glob("done-*"))) >= 2 and _first_time(folder / "killed"):
        _die()
    out = power._power_chunk_real(scenarios, items)
    (folder / f"done-{uuid.uuid4().hex}").touch()
    return out


RECOVERED = (rf"^power simulation: a worker process died \({KILLED}\); the (\d+) unfinished "
             r"chunks? \((\d+) of 40 fits\) (was|were) re-run on a fresh pool\. The results are "
             r"the same as without the loss \(each task carries its own seed\)\. If it recurs, "
             r"use fewer workers \(n_jobs=\), which need less memory$")


def test_a_lost_worker_is_replaced_and_finished_chunks_are_kept(tmp_path):
    items = list(range(40))
    with pytest.warns(WorkerWarning, match=RECOVERED) as record:
        out = run_tasks(dies_once_at_five, (str(tmp_path),), items, n_jobs=2, progress=False,
                        label="power simulation")
    assert (tmp_path / "killed").exists()
    assert out == [i * i for i in items]
    # only the unfinished chunks were run again: the items of the others ran once
    # (Python 3.12+ adds DeprecationWarnings about fork() in a threaded process)
    recovered = [w for w in record if issubclass(w.category, WorkerWarning)]
    assert len(recovered) == 1
    n_rerun = int(re.match(RECOVERED, str(recovered[0].message)).group(2))
    runs = [len((tmp_path / f"ran-{i}").read_text()) for i in items]
    assert 0 < n_rerun < 40 and min(runs) == 1
    assert sum(n == 1 for n in runs) >= 40 - n_rerun
    assert out == run_tasks(dies_once_at_five, (str(tmp_path),), items, n_jobs=1,
                            progress=False)


def test_the_progress_bar_counts_each_item_once_through_a_restart(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setattr(parallel, "PROGRESS_DELAY", 0)
    with pytest.warns(WorkerWarning, match="a worker process died"):
        run_tasks(dies_once_at_five, (str(tmp_path),), list(range(40)), n_jobs=2,
                  label="power simulation")
    err = capsys.readouterr().err
    counts = [int(n) for n in re.findall(r"(\d+)/40 ", err)]
    assert counts == sorted(counts) and counts[-1] == 40
    assert "a worker died: re-running" in err


def test_a_worker_that_keeps_dying_raises_a_mixedkit_error():
    with pytest.raises(WorkerLostError, match=(
            rf"^fit_many: worker processes died 3 times \({KILLED}\), on mixedkit's pool and "
            r"on the 2 fresh pools started to finish the work; 0 of 10 fits had finished\. "
            r"Use fewer worker processes \(n_jobs=1 runs in this process\), which need less "
            r"memory; make each fit smaller \(fewer groups or rows per data set\); or run on "
            r"a dask cluster \(executor=client\), which replaces lost workers$")) as info:
        run_tasks(always_dies, (), list(range(10)), n_jobs=2, progress=False, label="fit_many")
    assert isinstance(info.value, (mk.MixedkitError, RuntimeError))
    assert isinstance(info.value.__cause__, BrokenProcessPool)


def test_a_broken_pool_of_the_user_raises_a_mixedkit_error():
    with ProcessPoolExecutor(2) as pool, pytest.raises(WorkerLostError, match=(
            r"^bootstrap: the process pool passed as executor= broke: a worker process died "
            r"\(.+\), and mixedkit cannot replace a pool it did not create; 0 of 10 fits had "
            r"finished\. Leave executor= unset")):
        run_tasks(always_dies, (), list(range(10)), executor=pool, progress=False,
                  label="bootstrap")


@pytest.mark.parametrize("codes, cause", [
    ([-9, -15], "killed by SIGKILL, as the system's out-of-memory killer does"),
    ([-15, -11], "crashed with SIGSEGV, e.g. in a BLAS library"),
    ([None, 3], "exited with code 3"),
    ([-15, 0, None], "killed by the system, e.g. out of memory, or crashed"),
])
def test_the_messages_say_how_the_worker_died(codes, cause):
    processes = {i: SimpleNamespace(exitcode=code) for i, code in enumerate(codes)}
    assert parallel._death_cause(processes) == cause
    assert parallel._death_cause(None) == "killed by the system, e.g. out of memory, or crashed"


@pytest.fixture(scope="module")
def sleep_fit(sleepstudy):
    return mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleepstudy)


def test_power_survives_a_killed_worker_with_the_same_table(sleep_fit, tmp_path, monkeypatch):
    kwargs = {"effect": 5, "n_groups": [6, 10], "n_sims": 40, "seed": 3, "progress": False}
    serial = mk.power_lmm(sleep_fit, "Days", n_jobs=1, **kwargs)
    monkeypatch.setenv(MARKERS, str(tmp_path))
    monkeypatch.setattr(power, "_power_chunk_real", power._power_chunk, raising=False)
    monkeypatch.setattr(power, "_power_chunk", power_chunk_dying_once)
    with pytest.warns(WorkerWarning, match=r"^power simulation: a worker process died"):
        survived = mk.power_lmm(sleep_fit, "Days", n_jobs=2, **kwargs)
    assert (tmp_path / "killed").exists()
    pd.testing.assert_frame_equal(survived, serial)
    assert survived.attrs == serial.attrs
