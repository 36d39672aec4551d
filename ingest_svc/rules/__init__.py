"""Ingest rules as plain Python: jobs and their lifecycle, outlines to structure, text to passages."""
