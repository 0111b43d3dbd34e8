"""Performance benchmarks: `python -m benchmarks.ingest`, `python -m benchmarks.xml` (see README.md)."""
