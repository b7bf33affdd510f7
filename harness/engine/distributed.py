"""One run shared by several processes: torchrun ranks, or independent shards (``--shard I/N``).

* **Who does what.** The work is method × item. Each (method, bucket) is cut into that method's
  batches as a single process cuts it, and the batches are dealt whole to the processes with
  the least work of that bucket and method so far (:func:`plan`). Every process so does an
  equal share of every method and bucket, whatever each costs (a slow method or a bucket of
  large holes is shared like the rest), and forms exactly the batches a single process forms.
* **Where results meet.** Each process predicts and scores its part on its own device
  (``cuda:LOCAL_RANK``, or the CPU) into the shared content-addressed cache, whose packs are
  append-only and one per process: no two writers share a file. Each process then writes its
  part of the results (harness.store.parts: its records' rows and the features of its scored
  items), and the reducer (harness.engine.reduce) merges the parts into the records, set-level
  metrics and results.json of a single process, byte for byte, reading no prediction: rank 0
  once every rank wrote its part (torchrun), or ``harness reduce`` after the shards.
* **Coordination** (torchrun only) is small Python objects over gloo, whatever the device: every
  rank decodes and hashes its share of the images and masks (input i goes to rank i % world; of
  tar shards, each rank streams only shard i with i % world == rank and takes its images) and
  the shares are gathered, so every rank holds the single-process manifest and no image is
  decoded twice; every few seconds the ranks exchange their counts, which gives rank 0 one
  progress line for all ranks. A rank that stops answering, or finishes no item for ``timeout``
  seconds, ends the run with an error naming it. A rank that dies loses its batches in flight;
  torchrun stops the others, and the same command again finishes the work from the cache.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from harness.environment import Environment
from harness.errors import Interrupted, RankError
from harness.engine.evaluation import Evaluation
from harness.engine.features import set_state
from harness.data.manifest import Manifest, ManifestItem, Share, build_manifest
from harness.engine.pipeline import defaults
from harness.engine.progress import progress_bar
from harness.data.spec import RunSpec
from harness.store.parts import FOLDER, cells, write_part
from harness.store.records import MethodRecords

DEFAULT_TIMEOUT = 1800.0  # seconds: torch's own default for collectives
TICK = 2.0  # seconds between two exchanges of counts

Part = tuple[str, list[ManifestItem]]  # a method label and the items one process does for it


def plan(methods: Sequence[tuple[str, int]], items: Sequence[ManifestItem], count: int) -> list[list[Part]]:
    """Per process, its parts: ``methods`` are (label, batch size) in run order, ``items`` the manifest's.

    Deterministic (every process computes the same plan), disjoint and complete. Each batch of
    a (method, bucket), cut as a single process cuts it, goes whole to the process with the
    fewest items of that bucket, then of that method, then in all: per bucket the processes
    differ by at most one batch, per method by at most one batch's items. A process's items of
    a bucket, cut into batches again, are therefore batches of the single process.
    """
    parts: list[list[Part]] = [[] for _ in range(count)]
    total = [0] * count
    buckets = list(dict.fromkeys(item.bucket for item in items))
    for label, batch_size in methods:
        mine: list[list[ManifestItem]] = [[] for _ in range(count)]
        load = [0] * count
        for bucket in buckets:
            stratum = [item for item in items if item.bucket == bucket]
            here = [0] * count
            for start in range(0, len(stratum), batch_size):
                batch = stratum[start : start + batch_size]
                rank = min(range(count), key=lambda r: (here[r], load[r], total[r], r))
                mine[rank] += batch
                for counter in (here, load, total):
                    counter[rank] += len(batch)
        for rank in range(count):
            if mine[rank]:
                parts[rank].append((label, mine[rank]))
    return parts


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` → (I, N), 0 <= I < N."""
    index, sep, count = text.partition("/")
    try:
        index_, count_ = int(index), int(count)
    except ValueError:
        index_, count_ = -1, 0
    if not sep or not 0 <= index_ < count_:
        raise ValueError(f"--shard {text!r}: give I/N with 0 <= I < N, e.g. --shard 0/4")
    return index_, count_


@dataclass
class Shard:
    """This process's place in a shared run: ``index`` of ``count``; ``group`` is the gloo
    process group under torchrun, None for an independent shard (``--shard``)."""

    index: int
    count: int
    local: int = 0  # LOCAL_RANK: the GPU of this process on its machine
    group: Any = None
    timeout: float = DEFAULT_TIMEOUT
    #: The process group was started here (torchrun), so :meth:`close` ends it.
    owns_group: bool = False
    #: What this process did, per label: items of its part, items predicted (for its report).
    done: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Its items per label, once computed.
    parts: dict[str, list[ManifestItem]] = field(default_factory=dict)

    @property
    def single(self) -> bool:
        """The whole run in this one process (``Shard(0, 1)``): nothing to share or wait for."""
        return self.count == 1 and self.group is None

    @property
    def writes_records(self) -> bool:
        """One process, or rank 0 of torchrun; never an independent shard (a plain ``harness run`` writes them)."""
        return self.single or (self.group is not None and self.index == 0)

    @property
    def shows_progress(self) -> bool:
        """Independent shards show their own progress; of torchrun's ranks only rank 0 (for all)."""
        return self.group is None or self.index == 0

    def name(self) -> str:
        return f"rank {self.index}" if self.group is not None else f"shard {self.index}/{self.count}"

    def close(self) -> None:
        """Under torchrun, once this rank's work is done: wait for every rank (rank 0 reduces last),
        then end the process group. A rank that left with the group alive could abort at exit
        (gloo's worker threads outlive the interpreter: SIGABRT, "terminate called without an active
        exception", pytorch/pytorch#190489; seen once in CI on a rank that had finished its part)."""
        if self.group is None:
            return
        import torch.distributed as dist

        dist.barrier(self.group)
        if self.owns_group:
            dist.destroy_process_group()

    def settings(self, device: str | None, metrics_device: str | None, workers: int | None,
                 rescore: bool) -> tuple[str | None, str | None, int | None]:
        """Device, metrics device and loader workers of this rank. Under torchrun ``cuda`` (or no
        device with CUDA present) means this rank's GPU (ranks beyond the GPU count share them),
        and the machine's cores are shared by its ranks' loader workers."""
        if self.single:
            return device, metrics_device, workers
        if rescore:
            raise ValueError("rescoring runs in one process (harness check); run it without torchrun or --shard")
        if self.group is None:
            return device, metrics_device, workers
        if torch.cuda.is_available() and (device is None or device.startswith("cuda")):
            gpu = self.local % torch.cuda.device_count()
            torch.cuda.set_device(gpu)
            mine = f"cuda:{gpu}"
            device = mine if device in (None, "cuda") else device
            metrics_device = mine if metrics_device == "cuda" else metrics_device
        if workers is None:
            workers = defaults(torch.device(device or "cpu"), share=Environment.read().local_world_size).workers
        return device, metrics_device, workers

    def manifest(self, spec: RunSpec, cache_root: Path | None = None, roots: Mapping[str, str] | None = None) -> Manifest:
        """Under torchrun every rank decodes its share of the inputs (of tar shards: streams only
        its shards) and gets the others' (one manifest, the single process's); an independent
        shard builds it whole, as it has nobody to learn the rest from."""
        if self.group is None:
            return build_manifest(spec, cache_root=cache_root, roots=roots)
        manifest = build_manifest(spec, cache_root=cache_root, roots=roots,
                                  share=Share(self.index, self.count, self._all_gather))
        prints = self._all_gather(manifest.fingerprint())
        if len(set(prints)) > 1:
            others = [r for r, p in enumerate(prints) if p != prints[0]]
            raise RankError(f"rank(s) {', '.join(map(str, others))} built another manifest than rank 0 from the same "
                            "inputs: do the ranks see the same data (paths, files) on every machine?")
        return manifest

    def _all_gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.count
        try:
            dist.all_gather_object(gathered, value, group=self.group)
        except RuntimeError as error:
            raise RankError(f"rank {self.index}: the ranks did not all answer within {self.timeout:.0f} s ({error})") from None
        return gathered

    def compute(self, evaluations: list[Evaluation], items: list[ManifestItem], show_progress: bool) -> None:
        """This process's part of every evaluation into the cache (no records, no set-level
        metrics: :meth:`write_parts` keeps what they need). Under torchrun it returns once every
        rank is done. One process has nothing to share: its evaluations do the whole work when
        the records are written."""
        if self.single:
            return
        mine = plan([(e.label, e.batch_size) for e in evaluations], items, self.count)[self.index]
        by_label = {e.label: e for e in evaluations}
        work = [(by_label[label], part) for label, part in mine]
        try:
            if self.group is None:
                for evaluation, part in work:
                    evaluation.run(part, show_progress, sets=False)
                _sync(work)
            else:
                self._share(work, len(items) * len(evaluations), show_progress)
        except KeyboardInterrupt:
            raise Interrupted(f"{self.name()}: interrupted; every finished item is in the cache: run the same "
                              "command again to finish") from None
        self.done = {e.label: (len(part), e.result.predicted) for e, part in work}
        self.parts = {e.label: part for e, part in work}

    def write_parts(self, work: list[tuple[Evaluation, MethodRecords]], fingerprint: str) -> None:
        """This process's part of each method's results (harness.store.parts); under torchrun it
        returns once every rank wrote its parts, so that rank 0 can reduce them."""
        error = None
        try:
            for evaluation, records in work:
                write_method_part(self, evaluation, records, self.parts.get(evaluation.label, []), fingerprint)
        except Exception as caught:
            if self.group is None:
                raise
            error = f"{type(caught).__name__}: {caught}"
        if self.group is not None:
            failed = [(rank, text) for rank, text in enumerate(self._all_gather(error)) if text]
            if failed:
                raise RankError("; ".join(f"rank {rank} could not write its part ({text})" for rank, text in failed))

    def _share(self, work: list[tuple[Evaluation, list[ManifestItem]]], total: int, show_progress: bool) -> None:
        with progress_bar(show_progress and self.index == 0) as progress:
            monitor = _Monitor(self, work, total, progress)
            try:
                for evaluation, part in work:
                    evaluation.run(part, False, monitor.check, sets=False)
                _sync(work)  # on disk (and on a network filesystem's server) before a rerun reads it
            except BaseException:
                monitor.abandon()  # this process ends with the error; torchrun stops the others
                raise
            monitor.wait()

    def report(self, run_dir: Path) -> str:
        """One line for a process that writes no records."""
        items = sum(n for n, _ in self.done.values())
        predicted = sum(p for _, p in self.done.values())
        then = "rank 0 writes the records" if self.group is not None else \
            f"when every shard is done, `harness reduce --run {run_dir}` writes the records"
        return (f"{self.name()}: {items} items of {len(self.done)} method(s) done ({predicted} predicted), "
                f"its part in {run_dir / FOLDER}; {then}")

def _sync(work: list[tuple[Evaluation, list[ManifestItem]]]) -> None:
    for cache in {id(e.cache): e.cache for e, _ in work}.values():
        cache.sync()


def write_method_part(shard: Shard, evaluation: Evaluation, records: MethodRecords, items: list[ManifestItem],
                      fingerprint: str, interrupted: bool = False) -> None:
    """One method's part: the rows of ``items``, the features of those scored (set-state sums: the
    sample's features, every scored item's sums and their ids), what was counted. ``interrupted``
    (set-state sums, one process stopped early): what finished, for its rerun to start from."""
    features, sums, included = {}, {}, {}
    if evaluation.set_sample is not None:
        states = [(bucket, state) for bucket, state in evaluation.set_states(items, interrupted) if state is not None]
        features = {bucket: (state.ids, state.real_sample, state.fake_sample) for bucket, state in states}
        sums = {bucket: (state.real, state.fake) for bucket, state in states}
        included = {bucket: evaluation.summed(bucket) for bucket, _ in states}
    elif evaluation.set_metrics:
        features = {bucket: ([i.item_id for i in scored], real, fake)
                    for bucket, scored, real, fake in evaluation.set_features(items)}
    result = evaluation.result
    meta = {"record": records.info, "metrics": list(evaluation.metrics), "data_fingerprint": fingerprint,
            "predicted": result.predicted, "scored": result.scored, "damaged": result.damaged,
            "failures": [asdict(f) for f in result.failures],
            "set_metrics": [m.key for m in evaluation.set_metrics], "bootstrap": evaluation.set_bootstrap,
            "seed": evaluation.manifest.spec.seed,
            "features_identity": evaluation.features.extractor.identity if evaluation.features is not None else "",
            **({"set_state": set_state(evaluation.set_sample), "state_identity": evaluation.state_identity()}
               if evaluation.set_sample is not None else {})}
    write_part(records.folder, shard.index, shard.count, meta, records.columns,
               cells(evaluation.rows(items), records.columns), features, sums, included)


def from_environment(shard: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> Shard:
    """``--shard I/N``, else torchrun's ranks (``WORLD_SIZE`` > 1), else ``Shard(0, 1)`` (one process:
    the one-shard case of a shared run).

    Under torchrun the ranks join a gloo process group (only Python objects cross it, so gloo
    whatever the device); a caller that set up torch.distributed itself keeps its group and gets
    a gloo group beside it.
    """
    environment = Environment.read()
    world = environment.world_size
    if shard:
        if world > 1:
            raise ValueError("--shard is for independent processes; under torchrun the ranks share the work already")
        index, count = parse_shard(shard)
        return Shard(index, count, timeout=timeout)
    if world <= 1:
        return Shard(0, 1, timeout=timeout)
    import torch.distributed as dist

    owns = not dist.is_initialized()
    if owns:  # ended by Shard.close
        dist.init_process_group("gloo", timeout=timedelta(seconds=timeout))
    group = dist.group.WORLD if dist.get_backend() == "gloo" else dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout))
    return Shard(dist.get_rank(), dist.get_world_size(), environment.local_rank, group, timeout, owns)


class _Monitor:
    """A thread exchanging each rank's counts every :data:`TICK` seconds: rank 0 shows them as
    one progress line; a rank that stops answering or finishing items stops every rank."""

    def __init__(self, shard: Shard, work: list[tuple[Evaluation, list[ManifestItem]]], total: int, progress: Any):
        self.shard, self.work, self.total, self.progress = shard, work, total, progress
        self.task = progress.add_task(f"all {shard.count} ranks", total=total)
        self.error: RankError | None = None
        self._finished = self._stop = False
        self._thread = threading.Thread(target=self._loop, name="harness-ranks", daemon=True)
        self._thread.start()

    def check(self, bucket_done: bool = False) -> None:
        """Called after each batch: raises the error that stopped the ranks, if any."""
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        self._stop = True

    def wait(self) -> None:
        """Returns once every rank is done; raises :class:`RankError` otherwise."""
        self._finished = True
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _state(self, last_change: float) -> dict[str, Any]:
        done = sum(len(e.rows(part)) for e, part in self.work)
        reused = sum(e.reused for e, _ in self.work)
        return {"done": done, "reused": reused, "finished": self._finished, "idle": time.monotonic() - last_change}

    def _loop(self) -> None:
        import torch.distributed as dist

        shard, last_done, last_change = self.shard, -1, time.monotonic()
        while not self._stop:
            time.sleep(0.05 if self._finished else TICK)  # a finished rank answers at once
            state = self._state(last_change)
            if state["done"] != last_done or state["finished"]:
                last_done, last_change = state["done"], time.monotonic()
                state["idle"] = 0.0
            states: list[Any] = [None] * shard.count
            try:
                dist.monitored_barrier(shard.group, timeout=timedelta(seconds=shard.timeout), wait_all_ranks=True)
                dist.all_gather_object(states, state, group=shard.group)
            except RuntimeError as error:
                self.error = RankError(f"rank {shard.index}: the ranks stopped answering within {shard.timeout:.0f} s "
                                       f"({error}); what they finished is cached: run the same command again")
                return
            self._show(states)
            stalled = [r for r, s in enumerate(states) if not s["finished"] and s["idle"] > shard.timeout]
            if stalled:
                names = ", ".join(f"rank {r}" for r in stalled)
                self.error = RankError(f"{names} finished no item for {shard.timeout:.0f} s (--rank-timeout); what the "
                                       "ranks finished is cached: run the same command again")
                return
            if all(s["finished"] for s in states):
                return

    def _show(self, states: list[dict[str, Any]]) -> None:
        """Rank 0's line: items done by every rank; those found cached are left out of the rate,
        so that the rate and the ETA are those of the work."""
        self.progress.update(self.task, completed=sum(s["done"] for s in states),
                             cached=sum(s["reused"] for s in states))

