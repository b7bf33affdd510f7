"""Random state_dicts of usable scale for official key lists (tests build checkpoints from them)."""
import torch


def random_state(keys: dict[str, tuple[int, ...]], gain: float = 1.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fan-in-scaled conv weights (std sqrt(gain / fan_in)), positive BN variances, small rest."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in keys.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        elif len(shape) == 4:
            state[key] = torch.randn(shape, generator=generator) * (gain / torch.Size(shape[1:]).numel()) ** 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.1
    return state
