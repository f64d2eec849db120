"""Helpers shared by the tests: server processes, HTTP calls, waiting, audio checks, references."""
