"""Prometheus multiprocess mode for ``--workers N``: ``/metrics`` answers for the whole server.

Each uvicorn worker keeps its own live state (scheduler, model manager, chunk cache), read by custom
collectors at scrape time. Another worker cannot read that state, so in multiprocess mode every
worker copies its collectors' samples, once a second, into prometheus-client metric objects, which
write them to per-process files under ``PROMETHEUS_MULTIPROC_DIR``; any worker answering ``/metrics``
then reads all the files (``MultiProcessCollector``), under the same metric names as single-process
mode. Histograms need no copy: created after the variable is set, they write their own files.

The variable is read by prometheus-client when it is first imported, so it must be in the environment
before the workers start: ``python -m api`` calls ``prepare_directory`` before uvicorn spawns them.
"""
import asyncio
import glob
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Literal, Mapping, MutableMapping, Optional, get_args

from loguru import logger
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from typing_extensions import TypeIs

# How prometheus-client combines a gauge's per-process values (Gauge's multiprocess_mode).
GaugeMode = Literal["all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent",
                    "livemostrecent"]


def is_gauge_mode(mode: str) -> TypeIs[GaugeMode]:
    return mode in get_args(GaugeMode)

ENV = "PROMETHEUS_MULTIPROC_DIR"
MIRROR_INTERVAL_S = 1.0
_LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db$")


def multiprocess_dir() -> Optional[str]:
    """The directory of multiprocess mode, or None in single-process mode."""
    return os.environ.get(ENV) or None


def prepare_directory(workers: int, environ: MutableMapping[str, str] = os.environ) -> Optional[Path]:
    """Before the workers start: with ``workers`` > 1 and no ``PROMETHEUS_MULTIPROC_DIR``, create a fresh
    temporary directory and export it; a directory given in the variable is emptied instead (files from
    an earlier run would be summed in). Returns the directory this call created (the caller removes it
    when the server exits), else None. With one worker and no variable nothing changes."""
    given = environ.get(ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
        return None
    if workers <= 1:
        return None
    path = Path(tempfile.mkdtemp(prefix="kokoro-metrics-"))
    environ[ENV] = str(path)
    return path


def remove_directory(path: Optional[Path]) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, owned by someone else
        return True
    return True


def mark_dead_workers(path: str) -> list[int]:
    """Drop the live-gauge files of processes that are gone without their shutdown running (killed,
    crashed; uvicorn restarts such a worker under a new pid). Their counters and histograms stay: what
    they counted happened. Returns the pids marked dead."""
    stale = sorted({int(m.group(1)) for f in glob.glob(os.path.join(path, "gauge_live*_*.db"))
                    if (m := _LIVE_FILE.search(f)) and not _alive(int(m.group(1)))})
    for pid in stale:
        mark_process_dead(pid, path)
    return stale


def multiprocess_registry(path: str) -> CollectorRegistry:
    """A registry that reads every worker's files (built per scrape, as prometheus-client advises)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return registry


class SampleMirror:
    """Copies the current samples of ``collectors`` (objects with ``collect()`` yielding metric families)
    into prometheus-client metric objects, created on first sight under the family's name and labels:

    - counters: a ``Counter`` increased by the growth since the last ``mirror()``; a value below the last
      one is a reset (a restarted component counting from zero) and adds the new value whole;
    - gauges: a ``Gauge`` set to the value, with ``gauge_modes[name]`` (default ``livesum``) saying how
      the workers' values combine;
    - histograms: skipped, they write their own files in multiprocess mode.

    ``registry`` is where the metric objects are registered: None in production (the multiprocess
    files are what counts), a registry in tests. Use from one thread (the event loop)."""

    def __init__(self, collectors: Iterable, gauge_modes: Optional[Mapping[str, str]] = None,
                 default_mode: str = "livesum", registry: Optional[CollectorRegistry] = None):
        self.collectors = list(collectors)
        self.gauge_modes = dict(gauge_modes or {})
        self.default_mode = default_mode
        self.registry = registry
        self._metrics: dict[str, object] = {}
        self._last: dict[tuple, float] = {}

    def mirror(self) -> None:
        for collector in self.collectors:
            for family in collector.collect():
                if family.type == "counter":
                    self._counter(family)
                elif family.type == "gauge":
                    self._gauge(family)

    def _metric(self, family, samples, factory):
        metric = self._metrics.get(family.name)
        if metric is None:
            labelnames = sorted(samples[0].labels)
            metric = self._metrics[family.name] = factory(family.name, family.documentation, labelnames=labelnames,
                                                          registry=self.registry)
        return metric

    @staticmethod
    def _child(metric, labels):
        return metric.labels(**labels) if labels else metric

    def _counter(self, family) -> None:
        samples = [s for s in family.samples if s.name == family.name + "_total"]
        if not samples:
            return
        metric = self._metric(family, samples, Counter)
        for sample in samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            last = self._last.get(key, 0.0)
            grown = sample.value - last if sample.value >= last else sample.value
            if grown > 0:
                self._child(metric, sample.labels).inc(grown)
            elif key not in self._last:
                self._child(metric, sample.labels)   # a zero is exported too, as in single-process mode
            self._last[key] = sample.value

    def _gauge(self, family) -> None:
        samples = [s for s in family.samples if s.name == family.name]
        if not samples:
            return
        mode = self.gauge_modes.get(family.name, self.default_mode)
        if not is_gauge_mode(mode):
            raise ValueError(f"Invalid multiprocess mode: {mode}")   # as Gauge itself says

        def gauge(name: str, documentation: str, *, labelnames: list[str],
                  registry: Optional[CollectorRegistry]) -> Gauge:
            return Gauge(name, documentation, labelnames=labelnames, registry=registry, multiprocess_mode=mode)
        metric = self._metric(family, samples, gauge)
        for sample in samples:
            self._child(metric, sample.labels).set(sample.value)


class WorkerMirror:
    """One worker's part in multiprocess mode: ``start()`` mirrors every ``interval`` seconds from an
    asyncio task, ``stop()`` (at shutdown) ends it and marks this process dead, so its live gauges
    leave the sums. A failing mirror is logged, never fatal: metrics must not stop the server."""

    def __init__(self, mirror: SampleMirror, path: str, interval: float = MIRROR_INTERVAL_S):
        self.mirror = mirror
        self.path = path
        self.interval = interval
        self._task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self.mirror.mirror()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.mirror.mirror()
            except Exception as exc:
                logger.opt(exception=exc).warning("metrics mirror failed")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        mark_process_dead(os.getpid(), self.path)
