"""Storage: the content-addressed cache, run records, results files and atomic writes."""
