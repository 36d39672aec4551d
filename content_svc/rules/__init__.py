"""ContentService's rules: domain types and pure functions (no psycopg, no gRPC), unit-tested in
tests/unit."""
