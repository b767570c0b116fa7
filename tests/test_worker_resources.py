"""A worker's resources (its runs' extractors and its gate), and scheduler plugins registered once per scheduler.

Real extractors (``build_extractor``; a Gemini one makes no call until asked to read), a real in-process
LocalCluster; nothing here reaches past 127.0.0.1.
"""

import datetime as dt
import logging

import pytest
from distributed import Client, LocalCluster, get_worker

from daskparse.dashboard import BOARD_NAME, BoardExtension, dask_setup
from daskparse.extract.gemini import GeminiExtractor, ProcessGate
from daskparse.extract.local import LocalExtractor
from daskparse.gate import PLUGIN_NAME, RateGate, RateGateExtension, current_worker
from daskparse.scheduler_plugins import OncePerScheduler, add_once, register_once
from daskparse.settings import Settings
from daskparse.worker_resources import EXTENSION, KEPT, WorkerResources

DAY = dt.date(2026, 11, 1)
BASE_URL = "http://127.0.0.1:9"  # never called: building an extractor sends nothing


def gemini(key: str = "key-A", **fields) -> Settings:
    return Settings(extractor="gemini", gemini_api_key=key, gemini_base_url=BASE_URL, **fields)


# -- keys ---------------------------------------------------------------------------------------------------
def test_the_same_run_reuses_one_extractor_and_another_run_gets_its_own():
    resources = WorkerResources()
    first = resources.extractor(gemini(), DAY, "run-1")
    assert isinstance(first, GeminiExtractor)
    assert resources.extractor(gemini(), DAY, "run-1") is first  # a fresh but equal Settings: the same run
    assert resources.extractor(gemini(), DAY, "run-2") is not first
    assert resources.extractor(gemini(), dt.date(2026, 12, 1), "run-1") is not first
    assert len(resources) == 3


def test_two_api_keys_or_two_settings_never_share_an_extractor():
    resources = WorkerResources()
    a, b = gemini("key-A"), gemini("key-B")
    assert a.model_dump_json() == b.model_dump_json()  # the JSON masks the key: it cannot tell them apart
    by_a, by_b = resources.extractor(a, DAY, "run"), resources.extractor(b, DAY, "run")
    assert by_a is not by_b and by_a.options.api_key == "key-A" and by_b.options.api_key == "key-B"
    other_model = resources.extractor(gemini("key-A", model="gemini-2.5-pro"), DAY, "run")
    assert other_model is not by_a and other_model.options.model == "gemini-2.5-pro"
    local = resources.extractor(Settings(extractor="local"), DAY, "run")
    assert isinstance(local, LocalExtractor) and local.reference_date == DAY


def test_only_the_last_few_runs_extractors_are_kept():
    resources = WorkerResources()
    local = Settings(extractor="local")
    first = resources.extractor(local, DAY, "run-0")
    for run in range(1, KEPT + 2):
        resources.extractor(local, DAY, f"run-{run}")
    assert len(resources) == KEPT
    assert resources.extractor(local, DAY, "run-0") is not first  # dropped as the oldest, built again
    recent = resources.extractor(local, DAY, f"run-{KEPT + 1}")
    resources.extractor(local, DAY, "run-new")  # the least recently used goes, not the one just asked for
    assert resources.extractor(local, DAY, f"run-{KEPT + 1}") is recent and len(resources) == KEPT


def test_factories_given_to_the_resources_build_what_a_benchmark_injects():
    noted = []

    def gate(settings):
        noted.append(("gate", settings.extractor_name))
        return ProcessGate(3)

    def build(settings, reference_date, gate):
        noted.append(("build", reference_date))
        return LocalExtractor(reference_date) if gate is None else ("wrapped", gate)

    resources = WorkerResources(gate=gate, build=build, kept=2)
    made = resources.extractor(gemini(), DAY, "run")
    assert made[0] == "wrapped" and isinstance(made[1], ProcessGate)
    assert resources.extractor(gemini(), DAY, "run") is made
    assert noted == [("gate", "gemini"), ("build", DAY)]  # built once for the run


# -- outside and inside a worker ----------------------------------------------------------------------------
def test_outside_a_worker_there_is_no_gate_and_one_set_of_resources_per_process():
    assert current_worker() is None and RateGate.for_this_worker() is None
    with pytest.raises(ValueError, match="outside a Dask worker"):
        RateGate.on_worker()
    resources = WorkerResources.here()
    assert WorkerResources.here() is resources
    assert resources.gate(gemini()) is None
    extractor = resources.extractor(gemini(), DAY, "outside")
    assert isinstance(extractor.gate, ProcessGate)  # paces this process alone


def _inside(settings: Settings, run_id: str):
    worker = get_worker()
    resources = WorkerResources.here()
    extractor = resources.extractor(settings, DAY, run_id)
    return worker.address, resources, extractor, resources.gate(settings), resources.gate(Settings(extractor="local"))


@pytest.fixture(scope="module")
def in_process_cluster():
    """Two in-process workers, as the fallback's cluster: one process, each worker with its own resources."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield cluster, client


def test_in_a_worker_the_gate_is_a_real_rate_gate_bound_to_that_worker(in_process_cluster):
    cluster, client = in_process_cluster
    addresses = sorted(client.scheduler_info()["workers"])
    assert len(addresses) == 2
    seen = {}
    for address in addresses:
        bound, resources, extractor, gate, no_gate = client.submit(_inside, gemini(), "run-w", workers=[address],
                                                                   pure=False).result()
        assert bound == address
        assert isinstance(gate, RateGate) and gate.worker == address  # its death frees its slots
        assert no_gate is None  # a local run paces nothing
        assert isinstance(extractor.gate, RateGate) and extractor.gate.worker == address
        worker = next(w for w in cluster.workers.values() if w.address == address)
        assert worker.extensions[EXTENSION] is resources  # kept on the worker, made on first use
        seen[address] = (resources, extractor)
        again = client.submit(_inside, gemini(), "run-w", workers=[address], pure=False).result()
        assert again[1] is resources and again[2] is extractor  # the same run reuses it
    (one, by_one), (two, by_two) = seen.values()
    assert one is not two and by_one is not by_two  # one process, two workers, two sets of resources
    assert WorkerResources.here() is not one  # the client's thread is not in a worker


def _attach_counting(dask_worker):
    built = []

    def build(settings, reference_date, gate):
        built.append(gate.worker)
        return LocalExtractor(reference_date)

    WorkerResources(build=build).attach(dask_worker)
    return id(built)


def _built_for(settings: Settings):
    return type(WorkerResources.here().extractor(settings, DAY, "attached")).__name__


def test_resources_attached_to_a_worker_are_the_ones_its_tasks_use(in_process_cluster):
    cluster, client = in_process_cluster
    client.run(_attach_counting)
    names = client.gather([client.submit(_built_for, gemini(), workers=[address], pure=False)
                           for address in client.scheduler_info()["workers"]])
    assert names == ["LocalExtractor", "LocalExtractor"]  # a Gemini run, built by the attached factory
    for worker in cluster.workers.values():
        assert len(worker.extensions[EXTENSION]) == 1


# -- scheduler plugins once per scheduler -------------------------------------------------------------------
def test_installing_the_gate_again_keeps_its_state(in_process_cluster):
    cluster, client = in_process_cluster
    gate = RateGate.install(client, name="again", rpm=10_000, burst=100)
    with gate.slot():
        pass
    extension = cluster.scheduler.plugins[PLUGIN_NAME]
    again = RateGate.install(client, name="again", rpm=5_000)
    assert cluster.scheduler.plugins[PLUGIN_NAME] is extension  # not replaced: a second run keeps the state
    assert again.metrics()["granted"] == 1 and again.metrics()["rpm"] == 5_000


def test_the_board_and_the_preload_add_it_once(in_process_cluster):
    cluster, client = in_process_cluster
    register_once(client, BoardExtension())
    board = cluster.scheduler.plugins[BOARD_NAME]
    board.publish(run="kept", seq=1, total=3, done=1)
    register_once(client, BoardExtension())
    dask_setup(cluster.scheduler)
    add_once(cluster.scheduler, BoardExtension())
    assert cluster.scheduler.plugins[BOARD_NAME] is board and "kept" in board.runs


def test_a_plugin_that_would_replace_the_running_one_is_refused(in_process_cluster):
    cluster, client = in_process_cluster

    class Replacing(RateGateExtension):
        idempotent = False

    with pytest.raises(TypeError, match="not a OncePerScheduler"):
        register_once(client, Replacing())
    with pytest.raises(TypeError, match="not a OncePerScheduler"):
        add_once(cluster.scheduler, Replacing())
    assert issubclass(RateGateExtension, OncePerScheduler) and issubclass(BoardExtension, OncePerScheduler)


def test_a_worker_holds_no_more_images_ready_than_it_can_send(monkeypatch):
    """With the quota binding, calls wait at the gate: a task must stop preparing images once the worker has as many
    calls out as its pool can run, rather than optimize the whole backlog and hold every JPEG in memory."""
    import threading

    from daskparse import worker_resources

    monkeypatch.setattr(worker_resources, "CALL_THREADS", 2)
    resources = worker_resources.WorkerResources()
    gate = threading.Event()
    first = resources.submit_call(gate.wait, 30)
    second = resources.submit_call(gate.wait, 30)
    submitted = threading.Event()
    third = {}

    def submit_third():
        third["future"] = resources.submit_call(lambda: "third")
        submitted.set()

    thread = threading.Thread(target=submit_third)
    thread.start()
    assert not submitted.wait(0.5)  # two calls out: the third waits to be submitted
    gate.set()  # the gate lets the first two go
    assert submitted.wait(10) and third["future"].result(10) == "third"
    assert first.result(10) and second.result(10)
    thread.join(10)
