"""Training batches and the held-out set, drawn as the official MISF loader does (docs/misf.md §13).

Every sample gets a mask drawn at random from the whole mask pool and a horizontal flip with
p 0.5 applied to image and mask together; images are visited in shuffled epochs with the last
incomplete batch dropped (``shuffle=True, drop_last=True``). All randomness comes from one
numpy generator whose state is part of the resume file, so a resumed run draws the same batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from harness.data.datasets import ImageItem, dataset_source, load_dataset
from harness.data.images import prepare_image
from masks.buckets import PAPER_BUCKETS, Bucket
from masks.generator import free_form_mask
from harness.data.mask_sets import load_mask, mask_source
from harness.environment import Environment
from masks.sources import GENERATED, OWN, FileMaskSet


@dataclass(frozen=True)
class MaskPool:
    """Masks to draw from: files (nvidia, folder, buckets, paired) or generated strokes per bucket."""

    size: int
    files: FileMaskSet | None = None
    buckets: tuple[Bucket, ...] = PAPER_BUCKETS
    seed: int = 0
    resize: str = "pil-bilinear"

    def __post_init__(self) -> None:
        if self.files is not None and not self.files.files:
            raise ValueError(f"mask set '{self.files.name}' holds no mask files")

    def random(self, rng: np.random.Generator) -> np.ndarray:
        """A mask chosen uniformly from the pool (a generated one: uniform bucket, random index)."""
        if self.files is not None:
            chosen = self.files.files[int(rng.integers(len(self.files.files)))]
            return load_mask(self.files, chosen, self.size, self.resize)
        bucket = self.buckets[int(rng.integers(len(self.buckets)))]
        return free_form_mask(self.size, bucket, self.seed, int(rng.integers(2**31)))

    def fixed(self, index: int, count: int) -> np.ndarray:
        """The held-out set's mask ``index`` of ``count``: evenly spread over the sorted files or buckets."""
        if self.files is not None:
            files = self.files.files
            return load_mask(self.files, files[index * len(files) // count], self.size, self.resize)
        return free_form_mask(self.size, self.buckets[index % len(self.buckets)], self.seed, index)


def _to_tensor(image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(image).permute(2, 0, 1).float().div(255), torch.from_numpy(mask)[None].float()


class BatchSampler:
    """Shuffled epochs without replacement, a random mask and a random flip per sample."""

    def __init__(self, images: Sequence[ImageItem], masks: MaskPool, batch_size: int, seed: int):
        self.size = masks.size
        if len(images) < batch_size:
            raise ValueError(f"{len(images)} training images cannot fill a batch of {batch_size} (drop_last)")
        self.images, self.masks, self.batch_size = images, masks, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = np.empty(0, dtype=np.int64)
        self.cursor = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B,3,H,W] in [0,1] and masks [B,1,H,W] (1 = hole)."""
        if self.cursor + self.batch_size > len(self.order):
            self.order, self.cursor = self.rng.permutation(len(self.images)), 0
        pairs = []
        for index in self.order[self.cursor : self.cursor + self.batch_size]:
            image = prepare_image(self.images[int(index)].load(), self.masks.size, self.masks.resize)
            mask = self.masks.random(self.rng)
            if self.rng.random() < 0.5:
                image, mask = image[:, ::-1], mask[:, ::-1]
            pairs.append(_to_tensor(np.ascontiguousarray(image), np.ascontiguousarray(mask)))
        self.cursor += self.batch_size
        images, masks = zip(*pairs)
        return torch.stack(images), torch.stack(masks)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "order": torch.from_numpy(self.order), "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.order, self.cursor = state["order"].numpy(), state["cursor"]


@dataclass(frozen=True)
class HeldOut:
    """Fixed evaluation pairs, loaded once: images [N,3,H,W] and masks [N,1,H,W]."""

    images: torch.Tensor
    masks: torch.Tensor

    @classmethod
    def build(cls, items: Sequence[ImageItem], masks: MaskPool) -> "HeldOut":
        pairs = [
            _to_tensor(prepare_image(item.load(), masks.size, masks.resize), masks.fixed(i, len(items)))
            for i, item in enumerate(items)
        ]
        images, mask_tensors = zip(*pairs)
        return cls(torch.stack(images), torch.stack(mask_tensors))


def training_split(
    dataset: str, data_root: str | None, file_list: str | None = None, eval_images: int = 16
) -> tuple[tuple[ImageItem, ...], tuple[ImageItem, ...], FileMaskSet | None, str]:
    """(training images, held-out images, the dataset's own masks, its default mask set).

    A dataset with train and val splits (CelebA) trains on the first and evaluates on the first
    images of the second; any other dataset holds out its last ``min(eval_images, n // 10)`` images (at least one). For
    Places2 pass the training list as ``file_list`` (by default it lists the validation images).
    """
    data = load_dataset(dataset, data_root, file_list)
    if {"train", "val"} <= set(dataset_source(dataset).splits):
        train, val = (load_dataset(dataset, data_root, split=split).images for split in ("train", "val"))
        return train, val[:eval_images], None, data.default_masks
    held = max(1, min(eval_images, len(data.images) // 10))
    if len(data.images) <= held:
        raise ValueError(f"dataset '{dataset}' has {len(data.images)} images: too few to hold {held} out for evaluation")
    return data.images[:-held], data.images[-held:], data.paired_masks, data.default_masks


def mask_pool(
    kind: str, mask_root: str | None, size: int, seed: int, paired: FileMaskSet | None, resize: str = "pil-bilinear"
) -> MaskPool:
    """The pool named like ``harness run --masks`` (generated, nvidia, buckets, folder, paired, plug-ins)."""
    source = mask_source(kind)
    if source.pairing == GENERATED:
        return MaskPool(size, seed=seed, resize=resize)
    if source.pairing == OWN:
        if paired is None:
            raise ValueError("this dataset has no masks of its own; choose --masks")
        return MaskPool(size, paired, seed=seed, resize=resize)
    return MaskPool(size, source.files(mask_root, roots=Environment.read().roots), seed=seed, resize=resize)
