"""Helpers the tests import: stand-in builders, bots, waits, readers of logs and ledgers. Fixtures are in
tests/conftest.py; no test module imports from another test module."""
