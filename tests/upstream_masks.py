"""Independent re-statements of the official mask generators, for tests only.

Line by line as upstream runs them: the global ``np.random`` stream, cv2 on float32 masks, PIL
ImageDraw, LaMa's ``process_images`` writing PNG files through PIL, MAT's discarded
``transpose`` calls. Sources: advimman/lama 786f593 (``saicinpainting/training/data/masks.py``,
``saicinpainting/evaluation/masks/mask.py``, ``bin/gen_mask_dataset.py``,
``configs/data_gen/random_*.yaml``), fenglinglwb/MAT d273d89 (``datasets/mask_generator_*.py``),
zsyzzsoft/co-mod-gan c8b9ffe (``training/mask_generator.py``, ``metrics/metric_defaults.py``).
"""
from __future__ import annotations

import math
import os
import traceback
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

# ---------------------------------------------------------------- LaMa


class Edict(dict):
    """EasyDict's attribute access (LaMa's ``load_yaml`` returns one)."""

    def __init__(self, data):
        super().__init__({k: Edict(v) if isinstance(v, dict) else v for k, v in data.items()})

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _lama_yaml(out_min_size, irregular, box_proba, box):
    kwargs = {"irregular_proba": 1, "irregular_kwargs": irregular, "box_proba": box_proba}
    if box is not None:
        kwargs["box_kwargs"] = box
    kwargs.update({"segm_proba": 0, "squares_proba": 0, "variants_n": 5})
    return {"generator_kind": "random", "mask_generator_kwargs": kwargs, "max_masks_per_image": 1,
            "cropping": {"out_min_size": out_min_size, "handle_small_mode": "upscale", "out_square_crop": True,
                         "crop_min_overlap": 1},
            "max_tamper_area": 0.5}


def _irr(min_times, max_times, max_width, max_angle, max_len):
    return {"min_times": min_times, "max_times": max_times, "max_width": max_width, "max_angle": max_angle,
            "max_len": max_len}


def _box(margin, bbox_min_size, bbox_max_size, max_times, min_times):
    return {"margin": margin, "bbox_min_size": bbox_min_size, "bbox_max_size": bbox_max_size,
            "max_times": max_times, "min_times": min_times}


#: configs/data_gen/random_<kind>_<size>.yaml, as parsed by yaml.safe_load.
LAMA_YAML = {
    "lama-thin-256": _lama_yaml(256, _irr(4, 50, 10, 4, 40), 0, None),
    "lama-thin-512": _lama_yaml(512, _irr(4, 70, 20, 4, 100), 0, None),
    "lama-medium-256": _lama_yaml(256, _irr(4, 5, 50, 4, 100), 0.3, _box(0, 10, 50, 5, 1)),
    "lama-medium-512": _lama_yaml(512, _irr(4, 10, 100, 4, 200), 0.3, _box(0, 30, 150, 5, 1)),
    "lama-thick-256": _lama_yaml(256, _irr(1, 5, 100, 4, 200), 0.3, _box(10, 30, 150, 3, 1)),
    "lama-thick-512": _lama_yaml(512, _irr(1, 5, 250, 4, 450), 0.3, _box(10, 30, 300, 4, 1)),
}


def make_random_irregular_mask(shape, max_angle=4, max_len=60, max_width=20, min_times=0, max_times=10):
    height, width = shape
    mask = np.zeros((height, width), np.float32)
    times = np.random.randint(min_times, max_times + 1)
    for i in range(times):
        start_x = np.random.randint(width)
        start_y = np.random.randint(height)
        for j in range(1 + np.random.randint(5)):
            angle = 0.01 + np.random.randint(max_angle)
            if i % 2 == 0:
                angle = 2 * 3.1415926 - angle
            length = 10 + np.random.randint(max_len)
            brush_w = 5 + np.random.randint(max_width)
            end_x = np.clip((start_x + length * np.sin(angle)).astype(np.int32), 0, width)
            end_y = np.clip((start_y + length * np.cos(angle)).astype(np.int32), 0, height)
            cv2.line(mask, (start_x, start_y), (end_x, end_y), 1.0, brush_w)
            start_x, start_y = end_x, end_y
    return mask[None, ...]


class RandomIrregularMaskGenerator:
    def __init__(self, max_angle=4, max_len=60, max_width=20, min_times=0, max_times=10, ramp_kwargs=None,
                 draw_method="line"):
        self.max_angle, self.max_len, self.max_width = max_angle, max_len, max_width
        self.min_times, self.max_times = min_times, max_times

    def __call__(self, img, iter_i=None, raw_image=None):
        coef = 1  # no ramp at evaluation
        cur_max_len = int(max(1, self.max_len * coef))
        cur_max_width = int(max(1, self.max_width * coef))
        cur_max_times = int(self.min_times + 1 + (self.max_times - self.min_times) * coef)
        return make_random_irregular_mask(img.shape[1:], max_angle=self.max_angle, max_len=cur_max_len,
                                          max_width=cur_max_width, min_times=self.min_times, max_times=cur_max_times)


def make_random_rectangle_mask(shape, margin=10, bbox_min_size=30, bbox_max_size=100, min_times=0, max_times=3):
    height, width = shape
    mask = np.zeros((height, width), np.float32)
    bbox_max_size = min(bbox_max_size, height - margin * 2, width - margin * 2)
    times = np.random.randint(min_times, max_times + 1)
    for i in range(times):
        box_width = np.random.randint(bbox_min_size, bbox_max_size)
        box_height = np.random.randint(bbox_min_size, bbox_max_size)
        start_x = np.random.randint(margin, width - margin - box_width + 1)
        start_y = np.random.randint(margin, height - margin - box_height + 1)
        mask[start_y:start_y + box_height, start_x:start_x + box_width] = 1
    return mask[None, ...]


class RandomRectangleMaskGenerator:
    def __init__(self, margin=10, bbox_min_size=30, bbox_max_size=100, min_times=0, max_times=3, ramp_kwargs=None):
        self.margin, self.bbox_min_size, self.bbox_max_size = margin, bbox_min_size, bbox_max_size
        self.min_times, self.max_times = min_times, max_times

    def __call__(self, img, iter_i=None, raw_image=None):
        coef = 1
        cur_bbox_max_size = int(self.bbox_min_size + 1 + (self.bbox_max_size - self.bbox_min_size) * coef)
        cur_max_times = int(self.min_times + (self.max_times - self.min_times) * coef)
        return make_random_rectangle_mask(img.shape[1:], margin=self.margin, bbox_min_size=self.bbox_min_size,
                                          bbox_max_size=cur_bbox_max_size, min_times=self.min_times,
                                          max_times=cur_max_times)


class MixedMaskGenerator:
    def __init__(self, irregular_proba=1 / 3, irregular_kwargs=None, box_proba=1 / 3, box_kwargs=None,
                 segm_proba=1 / 3, segm_kwargs=None, squares_proba=0, squares_kwargs=None,
                 superres_proba=0, superres_kwargs=None, outpainting_proba=0, outpainting_kwargs=None,
                 invert_proba=0):
        self.probas, self.gens = [], []
        if irregular_proba > 0:
            self.probas.append(irregular_proba)
            irregular_kwargs = {} if irregular_kwargs is None else dict(irregular_kwargs)
            irregular_kwargs["draw_method"] = "line"
            self.gens.append(RandomIrregularMaskGenerator(**irregular_kwargs))
        if box_proba > 0:
            self.probas.append(box_proba)
            self.gens.append(RandomRectangleMaskGenerator(**(box_kwargs or {})))
        assert segm_proba == 0 and squares_proba == 0 and superres_proba == 0 and outpainting_proba == 0
        self.probas = np.array(self.probas, dtype="float32")
        self.probas /= self.probas.sum()
        self.invert_proba = invert_proba

    def __call__(self, img, iter_i=None, raw_image=None):
        kind = np.random.choice(len(self.probas), p=self.probas)
        gen = self.gens[kind]
        return gen(img, iter_i=iter_i, raw_image=raw_image)  # invert_proba is 0: random.random() never runs


class MakeManyMasksWrapper:
    def __init__(self, impl, variants_n=2):
        self.impl, self.variants_n = impl, variants_n

    def get_masks(self, img):
        img = np.transpose(np.array(img), (2, 0, 1))
        return [self.impl(img)[0] for _ in range(self.variants_n)]


def propose_random_square_crop(mask, min_overlap=0.5):
    height, width = mask.shape
    mask_ys, mask_xs = np.where(mask > 0.5)
    if height < width:
        crop_size = height
        obj_left, obj_right = mask_xs.min(), mask_xs.max()
        obj_width = obj_right - obj_left
        left_border = max(0, min(width - crop_size - 1, obj_left + obj_width * min_overlap - crop_size))
        right_border = max(left_border + 1, min(width - crop_size, obj_left + obj_width * min_overlap))
        start_x = np.random.randint(left_border, right_border)
        return start_x, 0, start_x + crop_size, height
    else:
        crop_size = width
        obj_top, obj_bottom = mask_ys.min(), mask_ys.max()
        obj_height = obj_bottom - obj_top
        top_border = max(0, min(height - crop_size - 1, obj_top + obj_height * min_overlap - crop_size))
        bottom_border = max(top_border + 1, min(height - crop_size, obj_top + obj_height * min_overlap))
        start_y = np.random.randint(top_border, bottom_border)
        return 0, start_y, width, start_y + crop_size


def process_images(src_images, indir, outdir, config):
    """bin/gen_mask_dataset.py's loop (generator_kind 'random', handle_small_mode 'upscale')."""
    variants_n = config.mask_generator_kwargs.pop("variants_n", 2)
    mask_generator = MakeManyMasksWrapper(MixedMaskGenerator(**config.mask_generator_kwargs), variants_n=variants_n)
    max_tamper_area = config.get("max_tamper_area", 1)
    for infile in src_images:
        try:
            file_relpath = infile[len(indir):]
            img_outpath = os.path.join(outdir, file_relpath)
            os.makedirs(os.path.dirname(img_outpath), exist_ok=True)
            image = Image.open(infile).convert("RGB")
            factor = config.cropping.out_min_size / min(image.size)
            out_size = (np.array(image.size) * factor).round().astype("uint32")
            image = image.resize(out_size, resample=Image.BICUBIC)
            src_masks = mask_generator.get_masks(image)
            filtered_image_mask_pairs = []
            for cur_mask in src_masks:
                (crop_left, crop_top, crop_right, crop_bottom) = propose_random_square_crop(
                    cur_mask, min_overlap=config.cropping.crop_min_overlap)
                cur_mask = cur_mask[crop_top:crop_bottom, crop_left:crop_right]
                cur_image = image.copy().crop((crop_left, crop_top, crop_right, crop_bottom))
                if len(np.unique(cur_mask)) == 0 or cur_mask.mean() > max_tamper_area:
                    continue
                filtered_image_mask_pairs.append((cur_image, cur_mask))
            mask_indices = np.random.choice(len(filtered_image_mask_pairs),
                                            size=min(len(filtered_image_mask_pairs), config.max_masks_per_image),
                                            replace=False)
            mask_basename = os.path.join(outdir, os.path.splitext(file_relpath)[0])
            for i, idx in enumerate(mask_indices):
                cur_image, cur_mask = filtered_image_mask_pairs[idx]
                cur_basename = mask_basename + f"_crop{i:03d}"
                Image.fromarray(np.clip(cur_mask * 255, 0, 255).astype("uint8"), mode="L").save(
                    cur_basename + f"_mask{i:03d}.png")
                cur_image.save(cur_basename + ".png")
        except Exception as ex:
            print(f"Could not make masks for {infile} due to {ex}:\n{traceback.format_exc()}")


def lama_reference(name: str, seed: int, index: int, workdir: Path) -> np.ndarray:
    """The harness contract for LaMa: np.random.seed([S, i]), then process_images on one N x N
    image with a fresh config, again (stream continuing) until it writes a mask; the PNG read back."""
    size = LAMA_YAML[name]["cropping"]["out_min_size"]
    indir, outdir = workdir / "in", workdir / "out"
    indir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), 127, np.uint8)).save(indir / "img.jpg")
    np.random.seed([seed, index])
    written = outdir / "img_crop000_mask000.png"
    while True:
        process_images([str(indir / "img.jpg")], str(indir) + "/", str(outdir), Edict(LAMA_YAML[name]))
        if written.exists():
            mask = np.array(Image.open(written))
            written.unlink()
            return mask


# ---------------------------------------------------------------- MAT / Co-Mod-GAN

def RandomBrush(max_tries, s, min_num_vertex=4, max_num_vertex=18, mean_angle=2 * math.pi / 5,
                angle_range=2 * math.pi / 15, min_width=12, max_width=48):
    H, W = s, s
    average_radius = math.sqrt(H * H + W * W) / 8
    mask = Image.new("L", (W, H), 0)
    for _ in range(np.random.randint(max_tries)):
        num_vertex = np.random.randint(min_num_vertex, max_num_vertex)
        angle_min = mean_angle - np.random.uniform(0, angle_range)
        angle_max = mean_angle + np.random.uniform(0, angle_range)
        angles = []
        vertex = []
        for i in range(num_vertex):
            if i % 2 == 0:
                angles.append(2 * math.pi - np.random.uniform(angle_min, angle_max))
            else:
                angles.append(np.random.uniform(angle_min, angle_max))
        h, w = mask.size
        vertex.append((int(np.random.randint(0, w)), int(np.random.randint(0, h))))
        for i in range(num_vertex):
            r = np.clip(np.random.normal(loc=average_radius, scale=average_radius // 2), 0, 2 * average_radius)
            new_x = np.clip(vertex[-1][0] + r * math.cos(angles[i]), 0, w)
            new_y = np.clip(vertex[-1][1] + r * math.sin(angles[i]), 0, h)
            vertex.append((int(new_x), int(new_y)))
        draw = ImageDraw.Draw(mask)
        width = int(np.random.uniform(min_width, max_width))
        draw.line(vertex, fill=1, width=width)
        for v in vertex:
            draw.ellipse((v[0] - width // 2, v[1] - width // 2, v[0] + width // 2, v[1] + width // 2), fill=1)
        if np.random.random() > 0.5:
            mask.transpose(Image.FLIP_LEFT_RIGHT)
        if np.random.random() > 0.5:
            mask.transpose(Image.FLIP_TOP_BOTTOM)
    mask = np.asarray(mask, np.uint8)
    if np.random.random() > 0.5:
        mask = np.flip(mask, 0)
    if np.random.random() > 0.5:
        mask = np.flip(mask, 1)
    return mask


def RandomMask(s, hole_range=[0, 1], counts=(5, 3, 9)):
    """``counts``: the three literals of each file (MultiFill, MultiFill, RandomBrush)."""
    coef = min(hole_range[0] + hole_range[1], 1.0)
    while True:
        mask = np.ones((s, s), np.uint8)

        def Fill(max_size):
            w, h = np.random.randint(max_size), np.random.randint(max_size)
            ww, hh = w // 2, h // 2
            x, y = np.random.randint(-ww, s - w + ww), np.random.randint(-hh, s - h + hh)
            mask[max(y, 0): min(y + h, s), max(x, 0): min(x + w, s)] = 0

        def MultiFill(max_tries, max_size):
            for _ in range(np.random.randint(max_tries)):
                Fill(max_size)

        MultiFill(int(counts[0] * coef), s // 2)
        MultiFill(int(counts[1] * coef), s)
        mask = np.logical_and(mask, 1 - RandomBrush(int(counts[2] * coef), s))
        hole_ratio = 1 - np.mean(mask)
        if hole_range is not None and (hole_ratio <= hole_range[0] or hole_ratio >= hole_range[1]):
            continue
        return mask[np.newaxis, ...].astype(np.float32)


#: name -> (s, hole_range, counts): mask_generator_512.py, _512_small, _256, _256_small; co-mod-gan
#: with metric_defaults.py's hole ranges.
MAT_CALLS = {
    "mat-large-512": (512, [0, 1], (5, 3, 9)),
    "mat-small-512": (512, [0, 1], (3, 2, 4)),
    "mat-large-256": (256, [0, 1], (4, 2, 8)),
    "mat-small-256": (256, [0, 1], (2, 2, 3)),
    "comodgan-512": (512, [0, 1], (10, 5, 20)),
    "comodgan-h0-512": (512, [0.0, 0.2], (10, 5, 20)),
    "comodgan-h1-512": (512, [0.2, 0.4], (10, 5, 20)),
    "comodgan-h2-512": (512, [0.4, 0.6], (10, 5, 20)),
    "comodgan-h3-512": (512, [0.6, 0.8], (10, 5, 20)),
    "comodgan-h4-512": (512, [0.8, 1.0], (10, 5, 20)),
}


def mat_reference(name: str, seed: int, index: int) -> np.ndarray:
    """np.random.seed([S, i]); RandomMask; inverted to uint8 255 = hole."""
    s, hole_range, counts = MAT_CALLS[name]
    np.random.seed([seed, index])
    kept = RandomMask(s, hole_range=hole_range, counts=counts)[0]
    return ((1 - kept) * 255).astype(np.uint8)
