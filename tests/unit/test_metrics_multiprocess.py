"""The multiprocess mirror: counters grow by deltas, gauges combine by mode, dead workers leave the sums.

Two "workers" are simulated in this process: prometheus-client picks its file per process id, so each
gets a value class with its own fake pid (what a real worker's ``os.getpid()`` gives it)."""
import os

import pytest
from prometheus_client import CollectorRegistry, Histogram, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from api.src.core import metrics_multiprocess as mp


class FakeCollector:
    """A worker's live state, exported like ServerCollector does."""

    def __init__(self):
        self.done = 0
        self.audio = 0.0
        self.queue = 0
        self.rtf = 0.0
        self.hist = Histogram("kokoro_test_hist", "h", registry=None, buckets=(1, 2))

    def collect(self):
        chunks = CounterMetricFamily("kokoro_chunks", "Chunks by outcome", labels=["outcome"])
        chunks.add_metric(["done"], self.done)
        chunks.add_metric(["failed"], 0)
        yield chunks
        yield CounterMetricFamily("kokoro_audio_seconds", "audio", value=self.audio)
        yield GaugeMetricFamily("kokoro_queue_depth", "queue", value=self.queue)
        yield GaugeMetricFamily("kokoro_real_time_factor", "rtf", value=self.rtf)
        yield from self.hist.collect()


def test_counters_grow_by_deltas_and_survive_a_reset():
    registry = CollectorRegistry()
    state = FakeCollector()
    mirror = mp.SampleMirror([state], registry=registry)
    mirror.mirror()
    assert registry.get_sample_value("kokoro_chunks_total", {"outcome": "done"}) == 0
    assert registry.get_sample_value("kokoro_chunks_total", {"outcome": "failed"}) == 0
    state.done, state.audio, state.queue = 3, 1.5, 7
    mirror.mirror()
    mirror.mirror()   # nothing new: nothing added
    state.done += 2
    mirror.mirror()
    assert registry.get_sample_value("kokoro_chunks_total", {"outcome": "done"}) == 5
    assert registry.get_sample_value("kokoro_audio_seconds_total") == 1.5
    assert registry.get_sample_value("kokoro_queue_depth") == 7
    state.done = 1    # the source restarted from zero and counted one more
    mirror.mirror()
    assert registry.get_sample_value("kokoro_chunks_total", {"outcome": "done"}) == 6
    assert registry.get_sample_value("kokoro_test_hist_count") is None   # histograms are not copied


@pytest.fixture
def multiproc_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(mp.ENV, str(tmp_path))
    yield tmp_path


class Worker:
    """A collector and mirror whose metric objects (made lazily, at a mirror) write the files of ``pid``."""

    def __init__(self, monkeypatch, pid):
        self.monkeypatch = monkeypatch
        self.value_class = values.MultiProcessValue(process_identifier=lambda: pid)
        self.state = FakeCollector()
        self.mirror_ = mp.SampleMirror([self.state], {"kokoro_real_time_factor": "livemax"})

    def mirror(self):
        self.monkeypatch.setattr(values, "ValueClass", self.value_class)
        self.mirror_.mirror()


def test_workers_sum_and_a_dead_worker_leaves_the_live_gauges(multiproc_dir, monkeypatch):
    a, b = Worker(monkeypatch, 5_000_001), Worker(monkeypatch, 5_000_002)
    a.state.done, a.state.queue, a.state.rtf = 4, 2, 0.3
    b.state.done, b.state.queue, b.state.rtf = 6, 5, 0.8
    a.mirror()
    b.mirror()
    a.state.done += 1
    a.mirror()

    def sample(name, labels=None):
        return mp.multiprocess_registry(str(multiproc_dir)).get_sample_value(name, labels or {})

    assert sample("kokoro_chunks_total", {"outcome": "done"}) == 11
    assert sample("kokoro_queue_depth") == 7
    assert sample("kokoro_real_time_factor") == 0.8
    # Neither fake pid can exist (above pid_max): both count as gone; their counted work stays, their live gauges leave.
    assert mp.mark_dead_workers(str(multiproc_dir)) == [5_000_001, 5_000_002]
    assert sample("kokoro_chunks_total", {"outcome": "done"}) == 11
    assert sample("kokoro_queue_depth") is None


def test_a_live_worker_is_not_marked_dead(multiproc_dir, monkeypatch):
    worker = Worker(monkeypatch, os.getpid())
    worker.state.queue = 3
    worker.mirror()
    assert mp.mark_dead_workers(str(multiproc_dir)) == []
    assert mp.multiprocess_registry(str(multiproc_dir)).get_sample_value("kokoro_queue_depth") == 3


def test_prepare_directory(tmp_path):
    env = {}
    assert mp.prepare_directory(1, env) is None and env == {}      # one worker: single-process mode
    made = mp.prepare_directory(2, env)
    assert made.is_dir() and env[mp.ENV] == str(made) and not any(made.iterdir())
    mp.remove_directory(made)
    assert not made.exists()
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old run")
    (given / "keep.txt").write_text("not ours")
    assert mp.prepare_directory(2, {mp.ENV: str(given)}) is None    # the user's: emptied, not removed
    assert [p.name for p in given.iterdir()] == ["keep.txt"]
