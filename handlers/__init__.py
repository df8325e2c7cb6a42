"""The command side and the doors: the ledger application, its services, CLI and HTTP API."""
