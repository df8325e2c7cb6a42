"""The organelle ecology of seed 002: LoRA organelles on the frozen Gemma 3 270M host that earn
energy by answering checked tasks, starve, route by bandit, learn from their own checked
answers and merge."""
