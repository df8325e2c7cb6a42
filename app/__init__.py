"""The application assembled: settings, the container that wires the store, the command
side, the read side and the servers together, and the operations that use both sides (verify,
counterfactual replay, scheduled decay)."""
