"""A run's per-item cost stays flat: what grows with the items done is paced by its cost."""


def test_record_saves_are_spaced_by_their_cost_so_a_long_run_pays_no_growing_share(monkeypatch):
    """A save rewrites every row so far: saves every few seconds would cost a share of the run
    that grows with its items. Here a save costs 2 s of a fake clock, batches 1 s each."""
    from types import SimpleNamespace

    from harness.engine import runner
    from harness.engine.evaluation import MethodResult

    clock = [0.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    saves = []

    class Records:
        folder = "records"

        def flush(self, rows, complete, counts, set_rows):
            clock[0] += 2.0
            saves.append(clock[0])

        def due(self):
            return not saves or clock[0] - saves[-1] >= 5.0  # MethodRecords' few seconds

    def run(items, show_progress, after_batch):
        for _ in range(1000):
            clock[0] += 1.0
            after_batch(False)
        return result

    result = MethodResult("m", "m", [], [])
    evaluation = SimpleNamespace(run=run, rows=lambda items: [], result=result, cache=SimpleNamespace(sync=lambda: None))
    runner._evaluate(evaluation, Records(), [], False)
    gaps = [b - a for a, b in zip(saves, saves[1:-1])]
    assert gaps and min(gaps) >= 20 * 2.0 and len(saves) <= 1000 * 2 // 40 + 2
