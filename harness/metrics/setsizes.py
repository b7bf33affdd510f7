"""How many items a set-level metric needs: below its minimum no value, below its reliable size
a value marked as such (the tables' ~).

The minimum is a floor, not a guarantee: with two items KID×1000 of a method came out at
−511.8 and U-IDS at 0.5 for identical images. The reliable sizes are where each number starts
to mean what it says: FID's covariances have full rank only from the feature dimension on
(pytorch-fid asks for 2,048 items); KID, unbiased at any size, is what torch-fidelity computes
over subsets of 1,000 items (it refuses fewer); P-/U-IDS fit a linear SVM that separates any two
sets of n points in general position when 2n <= D + 1, so below D items per class U-IDS is 0 by
construction, not by quality.
"""
from __future__ import annotations

from harness.metrics.setlevel import FID_MIN_ITEMS

#: Fewest items per set (per class for P-/U-IDS) for which any set-level value is computed.
MIN_SET_ITEMS = 5
#: Items from which KID is not marked as unstable (torch-fidelity's subset size).
KID_RELIABLE_ITEMS = 1000


def reliable_items(metric: str, dim: int) -> int:
    """The reliable size of a set-level metric (column name) over features of ``dim`` values."""
    if metric == "FID":
        return FID_MIN_ITEMS
    if metric.startswith("KID"):
        return KID_RELIABLE_ITEMS
    return max(dim, MIN_SET_ITEMS)  # P-IDS, U-IDS: the SVM must not separate the sets trivially


def size_note(metric: str, n: int, dim: int) -> tuple[bool, str]:
    """(whether to compute the value, the note for its row) for ``n`` items per set; ``metric`` is
    the column name, a profile's own version qualified (``mat.FID`` has the sizes of FID).

    A note of a computed value starts with "biased" when under the reliable size: reports mark
    those values. Only torch-fidelity's FID points to KID: the ``mat`` profile has none."""
    if n < MIN_SET_ITEMS:
        return False, f"not computed: {n} item(s), a set-level metric needs at least {MIN_SET_ITEMS}"
    reliable = reliable_items(metric.split(".")[-1], dim)
    if n < reliable:
        return True, f"biased or unstable: {n} items, fewer than {reliable} (its reliable size)" + (
            " (prefer KID)" if metric == "FID" else "")
    return True, ""
