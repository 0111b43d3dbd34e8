"""The ingest engine: pages to a spool file, the spool into the warehouse."""
