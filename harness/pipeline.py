"""The moving parts that keep a device busy: items decoded by loader workers, results handed to
a background thread that scores, caches and records, so the main thread only feeds the model.

* :class:`ItemSource` is a ``torch.utils.data.Dataset`` over a manifest's items: decoding,
  preparing and hash-checking images and masks, and reading cached predictions, happen in
  DataLoader worker processes; a broken or changed file comes back as an error, not a crash.
* :class:`Sink` runs a function on each submitted batch in one background thread, in order,
  with a bounded queue (back-pressure); its first exception is raised in the main thread.
* :func:`defaults` gives batch size, workers and prefetch depth per device, and
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

from harness.cache import Cache
from harness.images import InputError
from harness.manifest import Manifest, ManifestItem


@dataclass(frozen=True)
class Defaults:
    batch_size: int
    workers: int
    prefetch: int


def defaults(device: torch.device) -> Defaults:
    """Per device: on a GPU large batches and several decoding workers; on a CPU batch 1 (CPU
    convolutions gain nothing from batching) and one worker, which leaves the cores to the model."""
    cores = os.cpu_count() or 2
    if device.type == "cuda":
        return Defaults(batch_size=32, workers=max(1, min(8, cores - 1)), prefetch=4)
    return Defaults(batch_size=1, workers=1 if cores > 1 else 0, prefetch=2)


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
            image, mask = self.manifest.load(item)
        except (InputError, OSError, ValueError) as error:  # the file broke or changed after the manifest
            sample["error"] = str(error)
            return sample
        sample["image"] = torch.from_numpy(np.ascontiguousarray(image))
        sample["mask"] = torch.from_numpy(mask)
        if self.read_outputs:
            size = self.manifest.spec.size
            array, sample["damage"] = self.cache.read_output(self.keys[index], (3, size, size), mask > 0.5)
            sample["output"] = None if array is None else torch.from_numpy(array)
        return sample


def _collate(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return samples


def loader(source: ItemSource, batches: Sequence[Sequence[int]], workers: int, prefetch: int, pin: bool) -> DataLoader:
    """Batches of samples in the given order (one list of positions per batch)."""
    return DataLoader(source, batch_sampler=list(batches), num_workers=workers, collate_fn=_collate,
                      prefetch_factor=prefetch if workers else None, pin_memory=pin)


def stack(samples: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(images float [B,3,H,W] in [0,1], masks float [B,1,H,W]) of loaded samples."""
    images = torch.stack([s["image"] for s in samples]).permute(0, 3, 1, 2).float() / 255
    masks = torch.stack([s["mask"] for s in samples])[:, None].float()
    return images, masks


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
