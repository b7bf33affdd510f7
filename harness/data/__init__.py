"""Data and protocol: the run specification, datasets, image reading and the item manifest."""
