"""The moving parts that keep a device busy: items decoded by loader workers, results handed to
a background thread that scores, caches and records, so the main thread only feeds the model.

* :class:`ItemSource` is a ``torch.utils.data.Dataset`` over a manifest's items: decoding,
  preparing and hash-checking images and masks, and reading cached predictions, happen in
  DataLoader worker processes; a broken or changed file comes back as an error, not a crash.
* :func:`collate` builds each batch's device-ready tensors in the worker (:class:`Batch`).
* :class:`Sink` runs a function on each submitted batch in one background thread, in order,
  with a bounded queue (back-pressure); its first exception is raised in the main thread.
  :class:`InlineSink` does the same in the calling thread.
* :func:`defaults` gives batch size, workers and prefetch depth per device (on a CPU whose
  cores all run the model: none, everything in series), and
  :func:`tune_allocator` keeps glibc from mapping and zeroing fresh pages for every large
  CPU tensor (measured in benchmarks/pipeline_bench.py).
"""
from __future__ import annotations

import ctypes
import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from harness.store.cache import Cache
from harness.data.images import InputError
from harness.data.manifest import Manifest, ManifestItem


@dataclass(frozen=True)
class Defaults:
    batch_size: int
    workers: int  # 0: decoding and scoring run in series in the main thread
    prefetch: int


def cores() -> int:
    """CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def defaults(device: torch.device, share: int = 1) -> Defaults:
    """Per device, for a process that has ``1/share`` of the cores (``share`` processes on one machine).

    On a GPU (any accelerator): large batches and several decoding workers, scoring in a
    background thread. On a CPU, work moved off the main thread only pays on a core the model's
    threads leave free: where they take every core, other threads and processes preempt them and
    they then wait on each other at every parallel step (benchmarks/pipeline_bench.py, MISF on 2
    cores: 86-93 % of the forward+LPIPS bound pipelined, 93-100 % in series). There everything
    runs in series in the main thread (workers 0). Batch 1: CPU convolutions gain nothing from
    batching."""
    available = max(1, cores() // share)
    if device.type != "cpu":
        return Defaults(batch_size=32, workers=max(1, min(8, available - 1)), prefetch=4)
    return Defaults(batch_size=1, workers=1 if available > torch.get_num_threads() else 0, prefetch=2)


_TUNED = False


def tune_allocator() -> None:
    """glibc: serve large blocks from the heap and keep freed memory, instead of mmap and munmap
    per tensor (batched CPU inference otherwise spends its time in page faults). No-op elsewhere."""
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_max = -1, -4
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 1 << 30)


class ItemSource(Dataset):
    """Items as loader samples: the prepared uint8 image, the mask, and the cached prediction
    when one is there (``read_outputs``); failures are returned, never raised."""

    def __init__(self, manifest: Manifest, items: Sequence[ManifestItem], cache: Cache, keys: Sequence[str],
                 read_outputs: bool):
        self.manifest, self.items, self.cache, self.keys, self.read_outputs = manifest, list(items), cache, list(keys), read_outputs

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        sample: dict[str, Any] = {"index": index, "error": None, "output": None, "damage": None}
        try:
            sample["image"], sample["mask"] = self.manifest.load(item)
        except (InputError, OSError, ValueError) as error:  # the file broke or changed after the manifest
            sample["error"] = str(error)
            return sample
        if self.read_outputs:
            size = self.manifest.spec.size
            sample["output"], sample["damage"] = self.cache.read_output(self.keys[index], (3, size, size), sample["mask"] > 0.5)
        return sample


@dataclass
class Batch:
    """Samples of one batch as the device wants them, built in the loader worker, so the main
    thread converts nothing; images and masks share one storage, which crosses to the main
    process in one file-descriptor handshake (about 1 ms of the main thread's time each)."""

    positions: list[int]  # in the source, every sample of the batch
    errors: list[str | None]  # per sample: why it could not be loaded
    damage: list[str | None]  # per loaded sample: why its cached prediction was unusable
    images: torch.Tensor | None  # float [K,3,H,W] in [0,1], the K loaded samples
    masks: torch.Tensor | None  # float [K,1,H,W], 1 = hole
    outputs: list[torch.Tensor | None]  # per loaded sample: its cached prediction [3,H,W]

    def pin_memory(self) -> "Batch":
        """Page-locked copies, so host-to-GPU copies run asynchronously (called by the loader)."""
        def pin(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.pin_memory()

        return Batch(self.positions, self.errors, self.damage, pin(self.images), pin(self.masks), [pin(o) for o in self.outputs])


def collate(samples: list[dict[str, Any]]) -> Batch:
    loaded = [s for s in samples if s["error"] is None]
    images = masks = None
    if loaded:  # one storage for both: one file-descriptor handshake per batch
        height, width = loaded[0]["mask"].shape
        pixels = torch.empty(len(loaded), 4, height, width)
        images, masks = pixels[:, :3], pixels[:, 3:]
        images.copy_(torch.from_numpy(np.stack([s["image"] for s in loaded])).permute(0, 3, 1, 2)).div_(255)
        masks.copy_(torch.from_numpy(np.stack([s["mask"] for s in loaded]))[:, None])
    return Batch([s["index"] for s in samples], [s["error"] for s in samples], [s["damage"] for s in loaded],
                 images, masks, [None if s["output"] is None else torch.from_numpy(s["output"]) for s in loaded])


def loader(source: ItemSource, batches: Sequence[Sequence[int]], workers: int, prefetch: int, pin: bool) -> DataLoader:
    """Batches (:class:`Batch`) in the given order (one list of positions per batch)."""
    return DataLoader(source, batch_sampler=list(batches), num_workers=workers, collate_fn=collate,
                      prefetch_factor=prefetch if workers else None, pin_memory=pin)


class Sink:
    """One background thread applying ``work`` to submitted jobs in order."""

    def __init__(self, work: Callable[[Any], None], depth: int = 2):
        self._work = work
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="harness-sink", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._error is None:
                try:
                    self._work(job)
                except BaseException as error:  # noqa: BLE001  (raised again in the main thread)
                    self._error = error

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, job: Any) -> None:
        self._raise()
        self._queue.put(job)

    def close(self) -> None:
        """Finish every submitted job, then stop; raises the thread's error, if any."""
        self._queue.put(None)
        self._thread.join()
        self._raise()


class InlineSink:
    """:class:`Sink`'s interface in the calling thread: for a process with no core to spare."""

    def __init__(self, work: Callable[[Any], None]):
        self._work = work

    def submit(self, job: Any) -> None:
        self._work(job)

    def close(self) -> None:
        pass
