"""User-style predictors for the runner tests (loaded as tests.plugin_methods:factory)."""
import os
import time
from pathlib import Path

import torch

from harness.predictor import Predictor, SizeSpec


class MeanFill(Predictor):
    """Fills holes with the mean of the known pixels; counts its calls."""

    name = "mean-fill"
    calls = 0

    def __init__(self, delay: float = 0.0, size: SizeSpec = SizeSpec()):
        self.delay, self.size = delay, size

    def predict(self, images, masks, **kwargs):
        MeanFill.calls += 1
        if self.delay:
            time.sleep(self.delay)
        known = (1 - masks)
        mean = (images * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp(min=1)
        assert float((images * masks).abs().max()) == 0.0, "ground truth leaked into the holes"
        return mean.expand_as(images).clone()


def mean_fill(checkpoint=None, device=None, **options):
    pids = os.environ.get("MEAN_FILL_PID_DIR")  # each process says who it is (the scale-out tests kill one rank)
    if pids:
        Path(pids, f"rank{os.environ.get('RANK', '0')}.pid").write_text(str(os.getpid()))
    if os.environ.get("MEAN_FILL_HANG_RANK", "-") == os.environ.get("RANK"):  # a rank that hangs
        return MeanFill(delay=3600)
    return MeanFill(delay=float(os.environ.get("MEAN_FILL_DELAY", "0")))


def square_multiple_of_8(checkpoint=None, device=None, **options):
    return MeanFill(size=SizeSpec(square=True, multiple=8))


def native_48(checkpoint=None, device=None, **options):
    return MeanFill(size=SizeSpec(native=48))


def native_32(checkpoint=None, device=None, **options):
    return MeanFill(size=SizeSpec(native=32))


class Broken(Predictor):
    name = "broken"

    def __init__(self, mode):
        self.mode = mode

    def predict(self, images, masks, **kwargs):
        if self.mode == "shape":
            return images[:, :, :-1]
        out = images.clone()
        out[0] = float("nan")  # only the first item of each batch is bad
        return out


def nan_first(checkpoint=None, device=None, **options):
    return Broken("nan")


def wrong_shape(checkpoint=None, device=None, **options):
    return Broken("shape")


class BadOutput(Predictor):
    """Mean fill whose output is spoiled in one named way (for prediction validation tests)."""

    def __init__(self, mode):
        self.mode, self.name = mode, f"bad-{mode}"

    def predict(self, images, masks, **kwargs):
        out = MeanFill().predict(images, masks)
        if self.mode == "inf":
            out[:, 0] = float("inf")
        elif self.mode == "neginf":
            out[:, 1] = -float("inf")
        elif self.mode == "uint8":
            out = (out * 255).to(torch.uint8)
        elif self.mode == "overshoot":
            out = out * 0 + 1.5
        elif self.mode == "mutate":
            masks.mul_(0)  # a careless predictor changing its input in place
            images.mul_(0)
        return out


def inf_out(checkpoint=None, device=None, **options):
    return BadOutput("inf")


def neginf_out(checkpoint=None, device=None, **options):
    return BadOutput("neginf")


def uint8_out(checkpoint=None, device=None, **options):
    return BadOutput("uint8")


def overshoot(checkpoint=None, device=None, **options):
    return BadOutput("overshoot")


def mask_mutator(checkpoint=None, device=None, **options):
    return BadOutput("mutate")


class NaNOnLargeHoles(MeanFill):
    """Mean fill that returns NaN for images with more than half their pixels in holes."""

    name = "nan-on-large-holes"

    def predict(self, images, masks, **kwargs):
        out = super().predict(images, masks)
        out[masks.flatten(1).mean(1) > 0.5] = float("nan")
        return out


def nan_on_large_holes(checkpoint=None, device=None, **options):
    return NaNOnLargeHoles()


class ConstantFill(Predictor):
    """Fills holes with the grey level written in its 'weights' file (a text file)."""

    name = "constant-fill"

    def __init__(self, path):
        self.weight_files = (Path(path),)
        self.level = float(Path(path).read_text())

    def predict(self, images, masks, **kwargs):
        return torch.full_like(images, self.level)


def constant_fill(checkpoint=None, device=None, **options):
    if checkpoint is None:
        raise FileNotFoundError("constant_fill needs --checkpoint FILE holding a grey level")
    return ConstantFill(checkpoint)


class Quitter(MeanFill):
    """Mean fill that tries to end the process from predict, in one named way."""

    def __init__(self, how):
        super().__init__()
        self.how, self.name = how, f"quit-{how}"

    def predict(self, images, masks, **kwargs):
        if self.how == "sys.exit":
            import sys
            sys.exit()
        if self.how == "os._exit":
            os._exit(0)
        if self.how == "KeyboardInterrupt":
            raise KeyboardInterrupt
        import argparse  # a library that ends the process on its own (argparse exits on a bad argument)
        argparse.ArgumentParser(prog="lib").parse_args(["--no-such-flag"])
        return super().predict(images, masks)


def quit_sys_exit(checkpoint=None, device=None, **options):
    return Quitter("sys.exit")


def quit_os_exit(checkpoint=None, device=None, **options):
    return Quitter("os._exit")


def quit_keyboard_interrupt(checkpoint=None, device=None, **options):
    return Quitter("KeyboardInterrupt")


def quit_in_library(checkpoint=None, device=None, **options):
    return Quitter("library")


def exit_while_building(checkpoint=None, device=None, **options):
    import sys
    sys.exit(3)
