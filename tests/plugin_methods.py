"""User-style predictors for the runner tests (loaded as tests.plugin_methods:factory)."""
import os
import time


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
    return MeanFill(delay=float(os.environ.get("MEAN_FILL_DELAY", "0")))


def square_multiple_of_8(checkpoint=None, device=None, **options):
    return MeanFill(size=SizeSpec(square=True, multiple=8))


def native_48(checkpoint=None, device=None, **options):
    return MeanFill(size=SizeSpec(native=48))


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
