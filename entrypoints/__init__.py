"""The doors: the CLI, the HTTP API, A2A and the knowledge API. They parse, call the command
or read side, and map errors; no business rules."""
