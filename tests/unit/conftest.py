"""The unit tier: pure rules, no stack, no sockets; the whole folder runs in seconds
(`.venv/bin/pytest tests/unit`)."""
