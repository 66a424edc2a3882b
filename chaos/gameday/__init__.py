"""Game days: declarative chaos scenarios run against the emulator, judged from its ledger."""
