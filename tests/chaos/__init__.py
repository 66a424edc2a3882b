"""Property-based chaos tests: random fleets, fault schedules and deliveries against the emulator, judged by
invariants read from its ledger (see test_properties.py and docs/deep-profile.md)."""
