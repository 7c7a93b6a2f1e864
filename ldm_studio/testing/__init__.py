"""Helpers for tests and benchmarks: tiny random-weight models written in the real formats."""
