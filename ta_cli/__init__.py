"""`ta`, the suite's admin command line: upload a textbook with a progress bar, follow and cancel
ingest jobs, list jobs and books, delete a book, mint a development token.

It is a client like any other: it talks gRPC to the Envoy front (or any service port) through the
generated stubs only, so it runs wherever the package is installed.
"""
