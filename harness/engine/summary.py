"""The few lines a run ends with: what was scored, what failed and why, what was noticed, how
long each stage took and where the records are."""
from __future__ import annotations

from collections import Counter

from harness.data.manifest import UPSCALE_NOTE
from harness.engine.runner import RunResult


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _reasons(failures) -> str:
    """Failures counted by stage and reason (the three most common), e.g. ``2 predict: NaN in output``."""
    counts = Counter((f.stage, f.reason.split(": ")[0][:80]) for f in failures)
    shown = [f"{n} {stage}: {reason}" for (stage, reason), n in counts.most_common(3)]
    return "; ".join(shown) + ("; ..." if len(counts) > 3 else "")


def run_summary(result: RunResult, stage_times: dict[str, float] | None = None) -> list[str]:
    manifest = result.manifest
    lines = [f"{_plural(len(manifest.items), 'item')} in {_plural(len(manifest.bucket_sizes()), 'bucket')}; "
             f"{_plural(len(manifest.failures), 'input failure')}"
             + (f" ({', '.join(f'{n} {s}' for s, n in Counter(f.stage for f in manifest.failures).items())})" if manifest.failures else "")]
    for reason, count in manifest.unused_masks.items():
        lines.append(f"{_plural(count, 'pool mask')} {reason}: not used")
    if manifest.exif_oriented:
        shown = ", ".join(manifest.exif_oriented[:5]) + (" ..." if len(manifest.exif_oriented) > 5 else "")
        lines.append(f"EXIF orientation: {_plural(len(manifest.exif_oriented), 'image')} carry an orientation tag and are "
                     f"read as stored, as the official loaders do ({shown})")
    if manifest.upscaled:
        shown = ", ".join(manifest.upscaled[:5]) + (" ..." if len(manifest.upscaled) > 5 else "")
        lines.append(f"note: {_plural(len(manifest.upscaled), 'image')} far smaller than {manifest.spec.size} px, upscaled "
                     f"more than {UPSCALE_NOTE}x: their numbers measure the upscaling as much as the method ({shown})")
    for method in result.methods:
        counts = method.counts()
        parts = [f"{counts['scored_items']} scored", f"{counts['failed_items']} failed", f"{method.predicted} predicted"]
        if method.damaged:
            parts.append(f"{len(method.damaged)} damaged cache {'entry' if len(method.damaged) == 1 else 'entries'} replaced")
        if method.out_of_range_items:
            parts.append(f"{_plural(method.out_of_range_items, 'item')} with values outside [0,1] (clamped for scoring)")
        lines.append(f"{method.label}: " + ", ".join(parts))
        if method.note:
            lines.append(f"  note: {method.note}")
    method_failures = [f for m in result.methods for f in m.failures]
    if method_failures:
        lines.append(f"failures by reason: {_reasons(method_failures)}")
    if stage_times:
        lines.append("time: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stage_times.items()))
    lines.append(f"records: {result.run_dir}/methods/<label>/records.csv, aggregates: {result.run_dir}/results.json")
    return lines
