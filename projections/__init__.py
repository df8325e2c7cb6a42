"""Read models built from the ledger, each tracking its position exactly once."""
