"""``harness train``: train MISF or an ablation variant with the official recipe (misf/training.py).

Registered as a subcommand in :mod:`misf.plugin`: the harness's command line builds its parser
from the registry and knows nothing of training.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from misf.weights import METHOD_VARIANTS

console = Console(soft_wrap=True, emoji=False)


#: Recipe options passed to TrainConfig when given; omitted ones keep its official defaults.
RECIPE_OPTIONS = (
    "size", "batch_size", "iterations", "lr", "seed", "update_order", "eval_every", "save_every", "sample_every",
)


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    """The ``train`` subcommand (TrainConfig is imported only when it runs: it pulls in the models)."""
    about = "train a MISF-family method (official losses, optimisers and update order, docs/misf.md §13)"
    p = subparsers.add_parser(
        "train", help=about, description=about, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  harness train --method misf-sem-filter-f2 --dataset celeba --data-root ~/data/celeba --masks nvidia\n"
               "  harness train --method misf --size 32 --batch-size 2 --iterations 2 --vgg-weights random  # smoke test",
    )
    p.add_argument("--method", required=True, choices=list(METHOD_VARIANTS), metavar="METHOD",
                   help=f"one of {', '.join(METHOD_VARIANTS)}")
    p.add_argument("--dataset", default="sample", help="celeba (train split; val split held out), places2, dunhuang, folder, sample")
    p.add_argument("--data-root", help="dataset folder (or $HARNESS_DATA_<NAME>)")
    p.add_argument("--file-list", help="places2: the training list (a JSON array or one path per line)")
    p.add_argument("--masks", help="generated, nvidia, buckets, folder, paired (default: the dataset's); drawn at random per sample")
    p.add_argument("--mask-root", help="mask folder (nvidia: or $HARNESS_NVIDIA_MASKS)")
    p.add_argument("--size", type=int, help="default 256")
    p.add_argument("--batch-size", type=int, help="default 16 (the paper)")
    p.add_argument("--iterations", type=int, help="default 350000 (the paper)")
    p.add_argument("--lr", type=float, help="generator lr, default 1e-4; the discriminator gets 0.1x (D2G_LR)")
    p.add_argument("--seed", type=int, help="default 10 (official); seeds the weights, batch order, masks and flips")
    p.add_argument("--out", help="run folder (default: the --resume folder, else runs/train/<method>-<dataset>-s<seed>)")
    p.add_argument("--resume", help="resume.pth of an earlier run, or its folder; recipe options default to that run's")
    p.add_argument("--eval-every", type=int, help="default 2000; 0 disables held-out evaluation")
    p.add_argument("--eval-images", type=int, default=16, help="held-out images (CelebA: from the val split)")
    p.add_argument("--save-every", type=int, help="default 10000")
    p.add_argument("--sample-every", type=int, help="default 1000; 0 disables sample grids")
    p.add_argument("--device", help="default: cuda when available, else cpu")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA (no effect on CPU)")
    p.add_argument("--update-order", choices=["official", "textbook"], help="default official (docs/misf.md §13)")
    p.add_argument("--vgg-weights", help="local vgg19 state_dict (default: torchvision's cache of vgg19-dcbb9e9d.pth); "
                   "'random': an untrained VGG19 for smoke tests (losses are then not the paper's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def _out_dir(args: argparse.Namespace, seed: int) -> Path:
    if args.out:
        return Path(args.out)
    if args.resume:
        resume = Path(args.resume)
        return resume if resume.is_dir() else resume.parent
    from harness.store.records import runs_root

    return runs_root() / "train" / f"{args.method}-{args.dataset}-s{seed}"


def _resumed_recipe(resume: Path) -> dict[str, Any]:
    """The recipe of the run being resumed, so ``--resume`` needs only the method and data options."""
    from misf.training import CONFIG_FILE

    path = (resume if resume.is_dir() else resume.parent) / CONFIG_FILE
    stored = json.loads(path.read_text()) if path.is_file() else {}
    return {name: stored[name] for name in RECIPE_OPTIONS if name in stored}


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from misf.losses import load_vgg19
    from misf.training_data import BatchSampler, HeldOut, mask_pool, training_split
    from misf.training import TrainConfig, Trainer

    recipe = _resumed_recipe(Path(args.resume)) if args.resume else {}
    recipe.update({name: getattr(args, name) for name in RECIPE_OPTIONS if getattr(args, name) is not None})
    config = TrainConfig(method=args.method, amp=args.amp, **recipe)
    train_items, eval_items, paired, default_masks = training_split(
        args.dataset, args.data_root, args.file_list, args.eval_images
    )
    masks = mask_pool(args.masks or default_masks, args.mask_root, config.size, config.seed, paired)
    random_vgg = args.vgg_weights == "random"
    vgg = load_vgg19(None if random_vgg else args.vgg_weights, random_init=random_vgg)  # fails here, before any step
    if random_vgg:
        console.print("[yellow]--vgg-weights random: perceptual and style losses use an untrained VGG19 (smoke test only)[/yellow]")
    held_out = HeldOut.build(eval_items, masks) if config.eval_every or config.sample_every else None
    out = _out_dir(args, config.seed)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    sampler = BatchSampler(train_items, masks, config.batch_size, config.seed)
    trainer = Trainer(config, sampler, vgg, out, device, held_out)
    if args.resume:
        trainer.resume(args.resume)
        console.print(f"Resumed {args.method} at iteration {trainer.iteration} from {args.resume}")
    console.print(
        f"Training {args.method} on {args.dataset} ({len(train_items)} images, {len(eval_items)} held out), "
        f"masks {args.masks or default_masks}, {config.size}px, batch {config.batch_size}, device {device}, "
        f"update order {config.update_order} → {out}"
    )
    gen_path = trainer.fit(progress=not args.no_progress)
    console.print(f"Generator: {gen_path}\nEvaluate: harness run --methods {args.method} --checkpoint {gen_path}")
    return 0
