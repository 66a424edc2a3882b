"""Benchmarks (scripts, not tests): ``python benchmarks/<name>.py --help``."""
