"""Training MISF and its ablation variants with the official recipe (docs/misf.md §13).

Adam (betas 0, 0.9) at 1e-4 for the generator and 1e-5 for the discriminator, no schedule.
The default ``update_order="official"`` reproduces MISF's ``backward()``: both optimisers are
zeroed once, the generator steps, then the discriminator steps on ∇(L_D + 0.1·BCE(D(out), 1)),
because the generator's adversarial gradient is still in D's ``.grad`` (docs/misf.md §13).
``"textbook"`` steps D on ∇L_D first, then G against the updated D.

Checkpoints use the official container and names (``{iteration}_InpaintingModel_gen.pth`` =
``{'iteration', 'generator'}``, ``..._dis.pth`` = ``{'discriminator'}``), so a trained file
loads in the harness's MISF predictors; ``resume.pth`` adds optimiser and RNG states so a
resumed run takes exactly the steps an uninterrupted one would (bitwise on CPU).
"""
from __future__ import annotations

import io
import json
import math
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from harness.errors import UnknownName
from harness.store.atomic import atomic_write_bytes, atomic_write_text
from harness.metrics import get_profile
from harness.metrics.scoring import Scorer
from misf.losses import InpaintingLoss, LossWeights, VGGFeatures
from misf.networks import Discriminator, InpaintGenerator, build_generator
from misf.weights import METHOD_VARIANTS

UPDATE_ORDERS = ("official", "textbook")
EVAL_METRICS = ("PSNR", "SSIM", "L1")
RESUME_FILE = "resume.pth"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class TrainConfig:
    """The paper's set-up (Sec. 4.4): batch 16, about 350,000 iterations, lr 1e-4, D at 0.1x."""

    method: str = "misf"
    size: int = 256
    batch_size: int = 16
    iterations: int = 350_000
    lr: float = 1e-4
    d2g_lr: float = 0.1
    betas: tuple[float, float] = (0.0, 0.9)
    seed: int = 10
    update_order: str = "official"
    amp: bool = False
    eval_every: int = 2000
    save_every: int = 10_000
    sample_every: int = 1000
    loss_weights: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self) -> None:
        if self.method not in METHOD_VARIANTS:
            raise UnknownName(f"'{self.method}' is not a MISF-family method; choose from {', '.join(METHOD_VARIANTS)}")
        if self.update_order not in UPDATE_ORDERS:
            raise ValueError(f"update_order must be one of {UPDATE_ORDERS}, not '{self.update_order}'")
        if self.size % 4 or self.size < 32:
            raise ValueError(f"size must be a multiple of 4 and at least 32 (the discriminator's patch), not {self.size}")


def checkpoint_paths(out_dir: Path, name: str) -> tuple[Path, Path]:
    """The official generator and discriminator file names for a checkpoint name."""
    return out_dir / f"{name}_InpaintingModel_gen.pth", out_dir / f"{name}_InpaintingModel_dis.pth"


def _save(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _load(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:6.2f} it/s" if task.speed else "   -- it/s", style="cyan")


class BatchStream(Protocol):
    """Training batches (misf.training_data.BatchSampler): seeded, resumable."""

    size: int

    def next(self) -> tuple[torch.Tensor, torch.Tensor]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class HeldOut(Protocol):
    """Fixed evaluation pairs: images [N,3,H,W] and masks [N,1,H,W] (misf.training_data.HeldOut)."""

    images: torch.Tensor
    masks: torch.Tensor


class Trainer:
    """Generator, discriminator, losses, optimisers and the batch stream of one training run."""

    def __init__(
        self,
        config: TrainConfig,
        sampler: BatchStream,
        vgg: VGGFeatures,
        out_dir: str | Path,
        device: str | torch.device = "cpu",
        held_out: HeldOut | None = None,
    ):
        if sampler.size != config.size:
            raise ValueError(f"the batches' size {sampler.size} differs from the training size {config.size}")
        self.config, self.out_dir, self.held_out = config, Path(out_dir), held_out
        self.device = torch.device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.generator: InpaintGenerator = build_generator(METHOD_VARIANTS[config.method]).to(self.device)
            self.discriminator = Discriminator(use_sigmoid=True).to(self.device)
        self.loss = InpaintingLoss(vgg, config.loss_weights).to(self.device)
        self.gen_optimizer = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=config.betas)
        self.dis_optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=config.lr * config.d2g_lr, betas=config.betas
        )
        self.sampler = sampler
        self.iteration = 0
        self.best_psnr = -math.inf
        self._loss_sums: dict[str, float] = {}
        self._loss_count = 0
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # as the official train.py

    def _autocast(self) -> AbstractContextManager:
        """bf16 autocast on CUDA with ``amp``; a no-op elsewhere."""
        enabled = self.config.amp and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def step(self) -> dict[str, float]:
        """One iteration on the next batch; returns D's loss, G's total and G's weighted terms."""
        images, masks = (t.to(self.device) for t in self.sampler.next())
        self.generator.train()
        self.discriminator.train()
        G, D, loss = self.generator, self.discriminator, self.loss
        with self._autocast():
            out = G(torch.cat([images * (1 - masks), masks], dim=1))
            dis_loss = loss.discriminator(D(images)[0], D(out.detach())[0])
        if self.config.update_order == "official":
            self.gen_optimizer.zero_grad()
            self.dis_optimizer.zero_grad()
            with self._autocast():
                gen_loss, terms = loss.generator(out, images, masks, D(out)[0])
            gen_loss.backward()
            self.gen_optimizer.step()
            dis_loss.backward()  # D's .grad still holds the generator's adversarial gradient
            self.dis_optimizer.step()
        else:
            self.dis_optimizer.zero_grad()
            dis_loss.backward()
            self.dis_optimizer.step()
            self.gen_optimizer.zero_grad()
            with self._autocast():
                gen_loss, terms = loss.generator(out, images, masks, D(out)[0])
            gen_loss.backward()
            self.gen_optimizer.step()
        self.iteration += 1
        values = {"D": dis_loss.item(), "G": gen_loss.item(), **{k: v.item() for k, v in terms.items()}}
        for key, value in values.items():
            self._loss_sums[key] = self._loss_sums.get(key, 0.0) + value
        self._loss_count += 1
        return values

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Raw generator output in [0,1] for [B,3,H,W] images and [B,1,H,W] masks, in eval mode."""
        self.generator.eval()
        outputs = []
        for start in range(0, len(images), self.config.batch_size):
            image = images[start : start + self.config.batch_size].to(self.device)
            mask = masks[start : start + self.config.batch_size].to(self.device)
            with self._autocast():
                out = self.generator(torch.cat([image * (1 - mask), mask], dim=1))
            outputs.append(out.float().clamp(0, 1).cpu())
        return torch.cat(outputs)

    def evaluate(self) -> dict[str, float]:
        """Mean PSNR, SSIM and L1 (x100) of the held-out set under the paper's metric profile."""
        if self.held_out is None:
            raise ValueError("no held-out set to evaluate on")
        predictions = self.predict(self.held_out.images, self.held_out.masks)
        rows = Scorer(get_profile("paper"), names=EVAL_METRICS)(self.held_out.images, predictions, self.held_out.masks)
        return {name: float(np.mean([row[name] for row in rows])) for name in EVAL_METRICS}

    def write_samples(self, count: int = 4) -> Path:
        """A PNG grid, one held-out example per row: input (holes white) | output composite | ground truth."""
        if self.held_out is None:
            raise ValueError("no held-out set to draw samples from")
        images, masks = self.held_out.images[:count], self.held_out.masks[:count]
        merged = self.predict(images, masks) * masks + images * (1 - masks)
        rows = torch.cat([images * (1 - masks) + masks, merged, images], dim=3)  # side by side
        grid = torch.cat(list(rows), dim=1)  # stacked vertically
        array = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        path = self.out_dir / "samples" / f"{self.iteration:07d}.png"
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def save(self, name: str | None = None) -> Path:
        """Write the gen/dis files under ``name`` (default: the iteration); periodic saves also update resume.pth."""
        gen_path, dis_path = checkpoint_paths(self.out_dir, name or str(self.iteration))
        _save(gen_path, {"iteration": self.iteration, "generator": self.generator.state_dict()})
        _save(dis_path, {"discriminator": self.discriminator.state_dict()})
        if name is None:  # written last, so it only ever names complete gen/dis files
            _save(self.out_dir / RESUME_FILE, self._resume_state())
        return gen_path

    def _resume_state(self) -> dict[str, Any]:
        state = {
            "iteration": self.iteration,
            "method": self.config.method,
            "gen_optimizer": self.gen_optimizer.state_dict(),
            "dis_optimizer": self.dis_optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "best_psnr": self.best_psnr,
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def resume(self, path: str | Path) -> None:
        """Continue from ``resume.pth`` (or the folder holding it) and the gen/dis files it names."""
        path = Path(path)
        path = path / RESUME_FILE if path.is_dir() else path
        state = _load(path)
        if state["method"] != self.config.method:
            raise ValueError(f"{path} is a '{state['method']}' run, not '{self.config.method}'")
        gen_path, dis_path = checkpoint_paths(path.parent, str(state["iteration"]))
        self.generator.load_state_dict(_load(gen_path)["generator"], strict=True)
        self.discriminator.load_state_dict(_load(dis_path)["discriminator"], strict=True)
        self.gen_optimizer.load_state_dict(state["gen_optimizer"])
        self.dis_optimizer.load_state_dict(state["dis_optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.iteration, self.best_psnr = state["iteration"], state["best_psnr"]

    def _log(self, record: dict[str, Any]) -> None:
        """Append the mean losses since the last record plus ``record`` to log.jsonl."""
        losses = {k: v / max(self._loss_count, 1) for k, v in self._loss_sums.items()}
        self._loss_sums, self._loss_count = {}, 0
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps({"iteration": self.iteration, **losses, **record}) + "\n")

    def fit(self, progress: bool = True) -> Path:
        """Train up to ``config.iterations``, evaluating, sampling and saving at their intervals.

        Returns the last generator file. The held-out PSNR's best model is also kept as
        ``best_InpaintingModel_gen.pth`` (the official code saves when PSNR improves); the
        recipe goes to config.json, where ``harness train --resume`` takes its defaults from.
        """
        config = self.config
        atomic_write_text(self.out_dir / CONFIG_FILE, json.dumps(asdict(config), indent=1))

        def due(every: int) -> bool:
            return every > 0 and self.iteration % every == 0

        columns = (
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
        )
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task(config.method, total=config.iterations, completed=self.iteration, losses="")
            while self.iteration < config.iterations:
                losses = self.step()
                bar.update(task, advance=1, losses=" ".join(f"{k} {v:.3g}" for k, v in losses.items()))
                if self.held_out is not None and due(config.eval_every):
                    metrics = self.evaluate()
                    self._log(metrics)
                    if metrics["PSNR"] > self.best_psnr:
                        self.best_psnr = metrics["PSNR"]
                        self.save("best")
                if self.held_out is not None and due(config.sample_every):
                    self.write_samples()
                if due(config.save_every) and self.iteration < config.iterations:
                    self.save()
        if self._loss_count:
            self._log({})
        return self.save()
