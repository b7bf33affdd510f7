"""The protocol made concrete: a deterministic pairing of images with masks per bucket.

Pairing rules (same spec and inputs → byte-identical manifest):

* generated masks: image i of bucket b gets ``free_form_mask(size, b, seed, i)``;
* a mask set from files (a pool): every mask is measured at evaluation size after
  binarisation and falls into the bucket [a, b) of its measured ratio; within a bucket the
  candidates (sorted by id) are permuted with ``default_rng([seed, bucket index])`` and image
  i gets candidate ``perm[i % n]``. Pool masks outside every bucket are simply not used
  (counted); empty, full and unreadable pool masks are input failures, never candidates;
* a seeded protocol source (``lama-thick-512``, ``mat-large-512``, ...): image i gets mask i of
  the run's seed (masks.seeded) and the bucket of its measured ratio; masks outside every
  bucket are not used (counted); the source's default buckets apply when none are given;
* a dataset's own masks (Dunhuang, folders with masks): each image keeps its mask; the bucket
  is ``default`` for Dunhuang, else the measured ratio's bucket. An image whose mask is
  missing, unreadable, empty or full after preparation, or outside every bucket, is an input
  failure.

``--limit N`` keeps the first N images of the test list in each bucket. Images are paired
before they are decoded, so a broken image fails only its own items. Each item is predicted
from exactly the pixels its hashes name: :meth:`Manifest.load` checks them again.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import astuple, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np

from harness.store.atomic import atomic_write_text
from harness.store.csvfiles import csv_text
from harness.data.datasets import Dataset, ImageItem, load_dataset
from harness.data.images import InputError, array_sha256, exif_orientation, prepare_image
from harness.engine.progress import stage, track
from harness.data.spec import RunSpec
from masks.buckets import DEFAULT_BUCKET, Bucket, bucket_of, hole_ratio, parse_buckets
from masks.generator import free_form_mask
from harness.data.mask_sets import load_mask, mask_source
from harness.environment import Environment
from masks.seeded import generator_version, mask_size, seeded_hole_mask
from masks.sources import GENERATED, OWN, SEEDED, FileMaskSet, MaskFile


@dataclass(frozen=True)
class ManifestItem:
    item_id: str
    bucket: str
    image_id: str
    mask_id: str
    hole_ratio: float
    source_bin: str
    image_sha256: str
    mask_sha256: str


@dataclass(frozen=True)
class Failure:
    """An item (or an input) that could not be scored; ``bucket`` is "" when it has none."""

    method: str
    item_id: str
    stage: str
    reason: str
    bucket: str = ""


T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Share:
    """This process's share of a manifest built by several (torchrun's ranks): of each list of
    inputs to decode or measure it takes those at positions i with i % count == index, or, for a
    dataset read in parts (tar shards), those of the parts it read. ``gather`` is a collective
    (every process calls it, in the same order) that returns every process's value in process
    order; the results merged in input order are those of one process."""

    index: int
    count: int
    gather: Callable[[Any], list[Any]]

    def map(self, function: Callable[[T], R], inputs: Sequence[T], what: str,
            owners: Sequence[int] | None = None) -> list[R]:
        """``[function(x) for x in inputs]``, each process computing its share: input i is computed
        by process ``owners[i]`` (by default i % count). An exception in any process's share ends
        every process with the same error, naming it."""
        mine: dict[int, R] = {}
        error = None
        positions = range(self.index, len(inputs), self.count) if owners is None else \
            [position for position, owner in enumerate(owners) if owner == self.index]
        try:
            for position in track(positions, what):
                mine[position] = function(inputs[position])
        except Exception as caught:  # every process must reach the gather, or the others wait for it
            error = f"{type(caught).__name__}: {caught}"
        merged: dict[int, R] = {}
        for process, (results, problem) in enumerate(self.gather((mine, error))):
            if problem:
                raise ValueError(f"{what}: process {process} of {self.count} failed: {problem}")
            merged.update(results)
        return [merged[position] for position in range(len(inputs))]

    def all(self, flag: bool) -> bool:
        """Whether ``flag`` holds in every process (a decision they must take together)."""
        return all(self.gather(flag))


#: One process building the whole manifest.
ALONE = Share(0, 1, lambda value: [value])


MaskLoader = Callable[[], np.ndarray]
INPUT = "*"  # the ``method`` of input failures: they concern every method of the run


#: An image whose centre square is upscaled more than this factor to the protocol size is noted:
#: its numbers measure the upscaling more than the method (a 1x1 image scored PSNR 57.6).
UPSCALE_NOTE = 2


@dataclass
class Manifest:
    spec: RunSpec  # resolved: the mask set and buckets actually used
    items: list[ManifestItem]
    failures: list[Failure]
    dataset: Dataset
    mask_loaders: dict[str, MaskLoader]
    #: Pool masks that lie outside every bucket, by reason: counted, not failures.
    unused_masks: dict[str, int] = field(default_factory=dict)
    #: Images with an EXIF orientation other than "as stored" (read as stored, like upstream).
    exif_oriented: list[str] = field(default_factory=list)
    #: The image hashes it was built from (merged from every process's share in a shared run).
    decoded: Decoded | None = None
    #: Images upscaled more than UPSCALE_NOTE times to the protocol size, with their size.
    upscaled: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._images = {img.id: img for img in self.dataset.images}

    def load(self, item: ManifestItem) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 HxWx3 image, float32 HxW mask with 1 = hole), verified against the item's hashes."""
        image = prepare_image(self._images[item.image_id].load(), self.spec.size, self.spec.resize)
        mask = self.mask_loaders[item.mask_id]()
        if array_sha256(image) != item.image_sha256:
            raise InputError(f"{item.image_id}: the image changed since the manifest was built")
        if array_sha256(mask) != item.mask_sha256:
            raise InputError(f"{item.mask_id}: the mask changed since the manifest was built")
        return image, mask

    def to_csv(self) -> str:
        rows = [{**{f.name: getattr(i, f.name) for f in fields(ManifestItem)}, "hole_ratio": f"{i.hole_ratio:.6f}"}
                for i in self.items]
        return csv_text(rows, [f.name for f in fields(ManifestItem)])

    def fingerprint(self) -> str:
        """Hash of the data actually used: every item's content hashes and bucket, and the input failures."""
        failures = sorted((f.item_id, f.bucket, f.reason) for f in self.failures)
        blob = json.dumps([self.to_csv(), failures, sorted(self.unused_masks.items())])
        return hashlib.sha256(blob.encode()).hexdigest()

    def run_name(self) -> str:
        return self.spec.run_name(self.fingerprint())

    def bucket_sizes(self) -> dict[str, int]:
        """Items per bucket, counting input failures of the bucket (what each method should score)."""
        sizes = {b.label: 0 for b in parse_buckets(self.spec.buckets)} if self.spec.buckets else {}
        for bucket in [i.bucket for i in self.items] + [f.bucket for f in self.failures if f.bucket]:
            sizes[bucket] = sizes.get(bucket, 0) + 1
        return sizes

    def write(self, path: Path) -> None:
        atomic_write_text(path, self.to_csv())


@dataclass(frozen=True)
class _Measured:
    mask_id: str
    ratio: float | None  # None: unreadable (``reason`` says why)
    sha: str
    source_bin: str
    reason: str = ""


def _size_and_time(path: Path) -> tuple[int, int]:
    """A file's size and modification time; (-1, -1) for one that cannot be read (a broken link)."""
    try:
        info = path.stat()
    except OSError:
        return -1, -1
    return info.st_size, info.st_mtime_ns


def _measure_file_masks(mask_set: FileMaskSet, spec: RunSpec, index_root: Path, share: Share = ALONE,
                        owners: Sequence[int] | None = None) -> list[_Measured]:
    """Ratio and hash of every mask at evaluation size, memoised in the cache by file stats;
    ``owners``: the process that measures each (:meth:`Share.map`)."""
    stats = [(m.id, str(m.path.resolve()), *_size_and_time(m.path)) for m in mask_set.files]
    key = hashlib.sha256(json.dumps([2, stats, spec.size, spec.resize, mask_set.threshold, mask_set.hole_is_white]).encode()).hexdigest()
    index_file = index_root / "mask-index" / f"{key}.json"
    try:
        known = [_Measured(*row) for row in json.loads(index_file.read_text())]
    except (OSError, ValueError, TypeError):
        known = None
    if share.all(known is not None):
        return known
    measured = share.map(lambda mask: _measure_file_mask(mask_set, mask, spec), mask_set.files, "measuring masks", owners)
    atomic_write_text(index_file, json.dumps([astuple(m) for m in measured]))
    return measured


def _measure_file_mask(mask_set: FileMaskSet, mask: MaskFile, spec: RunSpec) -> _Measured:
    try:
        array = load_mask(mask_set, mask, spec.size, spec.resize)
    except InputError as error:  # named as the user knows it: a temporary copy's path would change every run
        reason = str(error).replace(str(mask.path), mask.name) if mask.name else str(error)
        return _Measured(mask.id, None, "", mask.source_bin, reason)
    return _Measured(mask.id, hole_ratio(array), array_sha256(array), mask.source_bin)


class _SeededIndex:
    """Ratio and hash of masks 0, 1, ... of a seeded source, drawn in order as far as a manifest
    needs them and memoised in the cache by the generator's code (36,500 masks at 512 px take
    minutes to draw)."""

    def __init__(self, name: str, seed: int, index_root: Path):
        self.name, self.seed = name, seed
        key = hashlib.sha256(json.dumps([1, name, seed, generator_version(name)]).encode()).hexdigest()
        self.file = index_root / "mask-index" / f"seeded-{key}.json"
        try:
            self.known = [_Measured(*row) for row in json.loads(self.file.read_text())]
        except (OSError, ValueError, TypeError):
            self.known = []
        self.stored = len(self.known)

    def __getitem__(self, index: int) -> _Measured:
        while len(self.known) <= index:
            i = len(self.known)
            array = seeded_hole_mask(self.name, self.seed, i)
            self.known.append(_Measured(f"{self.name}-s{self.seed}-{i:05d}", hole_ratio(array), array_sha256(array), ""))
        return self.known[index]

    def save(self) -> None:
        if len(self.known) > self.stored:
            atomic_write_text(self.file, json.dumps([astuple(m) for m in self.known]))


def _file_loaders(mask_set: FileMaskSet, spec: RunSpec) -> dict[str, MaskLoader]:
    return {m.id: (lambda m=m: load_mask(mask_set, m, spec.size, spec.resize)) for m in mask_set.files}


def mask_problem(m: _Measured) -> str | None:
    """Why a measured mask cannot be scored at all (unreadable, empty, full), or None."""
    if m.ratio is None:
        return m.reason
    if m.ratio == 0:
        return "empty mask after preparation (no hole at evaluation size; check its size and aspect)"
    if m.ratio == 1:
        return "full mask after preparation (no known pixel left)"
    return None


def _outside(ratio: float, buckets: tuple[Bucket, ...]) -> str:
    return f"hole ratio {ratio:.4f} outside every bucket ({', '.join(b.label for b in buckets)})"


class _Builder:
    """Collects pairs (bucket, image index, mask) and failures for one spec."""

    def __init__(self, spec: RunSpec, dataset: Dataset, buckets: tuple[Bucket, ...], index_root: Path, share: Share):
        self.spec, self.dataset, self.buckets, self.index_root, self.share = spec, dataset, buckets, index_root, share
        self.limit = spec.limit or len(dataset.images)
        self.pairs: list[tuple[Bucket, int, _Measured]] = []
        self.failures: list[Failure] = []
        self.unused: dict[str, int] = {}

    def owners(self, positions: Sequence[int]) -> list[int] | None:
        """The process that decodes or measures what belongs to each image (by its position in the
        dataset): for a dataset read in parts, the one that read the image's part, so that no
        process needs the data of another's part; else None (:meth:`Share.map`'s default)."""
        if not self.dataset.parts:
            return None
        from harness.data.shards import image_owners

        owner = image_owners(self.dataset, self.share.count)
        return [owner[position] for position in positions]

    def paired(self) -> dict[str, MaskLoader]:
        own = self.dataset.paired_masks
        if own is None:
            raise ValueError(f"dataset '{self.dataset.name}' has no masks of its own; choose --masks")
        index_of = {image.id: i for i, image in enumerate(self.dataset.images)}
        for image_id, reason in self.dataset.unmatched:
            self.failures.append(Failure(INPUT, image_id, "mask", reason))
        owners = self.owners([index_of[mask.image_id] for mask in own.files])
        measured = {m.mask_id: m for m in _measure_file_masks(own, self.spec, self.index_root, self.share, owners)}
        counts: dict[str, int] = {}
        for mask in own.files:
            m, item_id = measured[mask.id], f"{mask.image_id}|{mask.id}"
            problem = mask_problem(m)
            bucket = DEFAULT_BUCKET if own.single_bucket else (bucket_of(m.ratio, self.buckets) if m.ratio is not None else None)
            if problem is not None or bucket is None:
                reason = problem or _outside(m.ratio, self.buckets)
                self.failures.append(Failure(INPUT, item_id, "mask", reason, bucket.label if bucket else ""))
                continue
            if counts.get(bucket.label, 0) < self.limit:
                counts[bucket.label] = counts.get(bucket.label, 0) + 1
                self.pairs.append((bucket, index_of[mask.image_id], m))
        return _file_loaders(own, self.spec)

    def generated(self) -> dict[str, MaskLoader]:
        size, seed = self.spec.size, self.spec.seed
        wanted = [(bucket, index) for bucket in self.buckets for index in range(min(self.limit, len(self.dataset.images)))]

        def measure(pair: tuple[Bucket, int]) -> _Measured:
            array = free_form_mask(size, pair[0], seed, pair[1])
            return _Measured(f"gen-s{seed}-{pair[0].label}-{pair[1]:05d}", hole_ratio(array), array_sha256(array), "")

        loaders: dict[str, MaskLoader] = {}
        for (bucket, index), m in zip(wanted, self.share.map(measure, wanted, "drawing masks")):
            loaders[m.mask_id] = lambda b=bucket, i=index: free_form_mask(size, b, seed, i)
            self.pairs.append((bucket, index, m))
        return loaders

    def seeded(self, name: str) -> dict[str, MaskLoader]:
        """Image i with mask i of the run's seed, in the bucket of its measured ratio."""
        size, seed = self.spec.size, self.spec.seed
        if mask_size(name) != size:
            raise ValueError(f"mask set '{name}' draws {mask_size(name)}x{mask_size(name)} masks; "
                             f"run it with --size {mask_size(name)} (this run: {size})")
        loaders: dict[str, MaskLoader] = {}
        counts = {b.label: 0 for b in self.buckets}
        drawn = _SeededIndex(name, seed, self.index_root)
        for i in track(range(len(self.dataset.images)), f"drawing {name} masks"):
            if min(counts.values()) >= self.limit:
                break
            m = drawn[i]
            problem = mask_problem(m)
            bucket = bucket_of(m.ratio, self.buckets)
            if problem is not None:
                self.failures.append(Failure(INPUT, m.mask_id, "mask", problem))
            elif bucket is None:
                self.unused["outside every bucket"] = self.unused.get("outside every bucket", 0) + 1
            elif counts[bucket.label] < self.limit:
                counts[bucket.label] += 1
                loaders[m.mask_id] = lambda i=i: seeded_hole_mask(name, seed, i)
                self.pairs.append((bucket, i, m))
        drawn.save()
        return loaders

    def pool(self, mask_set: FileMaskSet) -> dict[str, MaskLoader]:
        usable = []
        for m in _measure_file_masks(mask_set, self.spec, self.index_root, self.share):
            problem = mask_problem(m)
            if problem is not None:
                self.failures.append(Failure(INPUT, m.mask_id, "mask", problem))
            elif bucket_of(m.ratio, self.buckets) is None:
                self.unused["outside every bucket"] = self.unused.get("outside every bucket", 0) + 1
            else:
                usable.append(m)
        if not mask_set.files:
            raise ValueError(f"mask set '{mask_set.name}' holds no mask images (.png, .jpg, ...): check --mask-root")
        for b_index, bucket in enumerate(self.buckets):
            candidates = sorted((m for m in usable if bucket.contains(m.ratio)), key=lambda m: m.mask_id)
            if not candidates:
                raise ValueError(f"mask set '{mask_set.name}' has no usable mask with a hole ratio in bucket {bucket.label}")
            order = np.random.default_rng([self.spec.seed, b_index]).permutation(len(candidates))
            for index in range(min(self.limit, len(self.dataset.images))):
                self.pairs.append((bucket, index, candidates[order[index % len(candidates)]]))
        return _file_loaders(mask_set, self.spec)


@dataclass(frozen=True)
class Decoded:
    """What decoding a manifest's images told, by image id: the content hash of each prepared
    image, why the broken ones could not be used, and which carry an EXIF orientation. The
    expensive part of a manifest: built again from it, a manifest decodes no image; several
    processes build it in shares (:class:`Share`)."""

    sha: dict[str, str]
    broken: dict[str, str]
    exif: tuple[str, ...]
    upscaled: tuple[str, ...] = ()


def build_manifest(spec: RunSpec, cache_root: Path | None = None, roots: Mapping[str, str] | None = None,
                   share: Share = ALONE) -> Manifest:
    """The manifest of ``spec``. ``cache_root`` holds the memo of measured mask files;
    ``roots`` the data and mask folders the environment names (both default to the environment's);
    ``share``: this process's share of the decoding and measuring, when several build it together
    (every one of them gets the whole manifest, the same as one process builds)."""
    environment = Environment.read() if cache_root is None or roots is None else None
    with stage("manifest"):
        return _build(spec, cache_root or environment.cache_root,
                      environment.roots if roots is None else roots, share)


def _build(spec: RunSpec, cache_root: Path, roots: Mapping[str, str], share: Share) -> Manifest:
    dataset = load_dataset(spec.dataset, spec.data_root, spec.file_list, spec.hole_is_white, roots=roots, share=share)
    source = mask_source(spec.masks or dataset.default_masks)
    buckets = parse_buckets(spec.buckets or source.default_buckets)
    whole = source.pairing == OWN and dataset.paired_masks is not None and dataset.paired_masks.single_bucket
    resolved = replace(spec, masks=source.name, buckets=None if whole else ",".join(b.label for b in buckets))
    builder = _Builder(resolved, dataset, buckets, cache_root, share)
    if source.pairing == OWN:
        loaders = builder.paired()
    elif source.pairing == GENERATED:
        loaders = builder.generated()
    elif source.pairing == SEEDED:
        loaders = builder.seeded(source.name)
    else:
        loaders = builder.pool(source.files(spec.mask_root, spec.hole_is_white, roots))
    needed = sorted({p[1] for p in builder.pairs})
    decoded = _decode(resolved, [dataset.images[index] for index in needed], share, builder.owners(needed))
    return _materialise(resolved, dataset, builder, loaders, decoded)


def _decode(spec: RunSpec, images: list[ImageItem], share: Share, owners: Sequence[int] | None = None) -> Decoded:
    """Decode and hash each needed image once (by process ``owners[i]``, :meth:`Share.map`); a
    broken image is noted, not raised."""
    sha, broken, exif, upscaled = {}, {}, [], []
    for image, (digest, problem, oriented, small) in zip(images, share.map(lambda image: _decode_one(spec, image),
                                                                           images, "decoding images", owners)):
        if problem is not None:
            broken[image.id] = problem
            continue
        sha[image.id] = digest
        if small:
            upscaled.append(small)
        if oriented:
            exif.append(image.id)
    return Decoded(sha, broken, tuple(exif), tuple(upscaled))


def _decode_one(spec: RunSpec, image: ImageItem) -> tuple[str, str | None, bool, str]:
    """(content hash, why it is broken or None, whether it has an EXIF orientation, its upscaling note or "")."""
    try:
        array = image.load()
        digest = array_sha256(prepare_image(array, spec.size, spec.resize))
    except (InputError, OSError, ValueError) as error:
        return "", str(error), False, ""
    small = f"{image.id} ({array.shape[1]}x{array.shape[0]})" if min(array.shape[:2]) * UPSCALE_NOTE < spec.size else ""
    return digest, None, image.path is not None and exif_orientation(image.path) not in (0, 1), small


def _materialise(spec: RunSpec, dataset: Dataset, builder: _Builder, loaders: dict[str, MaskLoader],
                 decoded: Decoded) -> Manifest:
    """The items of the pairs; a broken image fails each of its items."""
    items, failures = [], list(builder.failures)
    for bucket, index, m in builder.pairs:
        image_id = dataset.images[index].id
        item_id = f"{image_id}|{m.mask_id}"
        if image_id in decoded.broken:
            failures.append(Failure(INPUT, item_id, "input", decoded.broken[image_id], bucket.label))
            continue
        items.append(ManifestItem(item_id, bucket.label, image_id, m.mask_id, m.ratio, m.source_bin,
                                  decoded.sha[image_id], m.sha))
    return Manifest(spec, items, failures, dataset, loaders, builder.unused, list(decoded.exif), decoded,
                    list(decoded.upscaled))
