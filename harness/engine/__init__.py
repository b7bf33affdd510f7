"""The engine: from a run specification and methods to cached predictions, scores and records."""
