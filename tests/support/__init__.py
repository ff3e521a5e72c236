"""Helpers shared by the test suites (real processes, fakes of external services)."""
