"""The command side: commands, the service that runs them, and their handlers."""
