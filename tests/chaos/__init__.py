"""Property-based chaos tests (issue §5)."""
