"""Dual-channel learning (seed 003): the reward model, harvesting the ledger's reviewed model
calls into training data, the SFT + preference trainer gated by the Reward Health Index."""
