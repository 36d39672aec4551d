"""UserService's rules: domain types, request validation and limits, update masks, etags, tenancy.

Pure functions and values: no psycopg, no grpc (requests arrive as the contract's protobuf
messages, which are plain data). Unit-tested without a stack in tests/unit/user.
"""
