"""The shipped configs: the ecology's colonies (``ecology/``) and seed 003's reward manifold and
seed prompts (``learning/``), YAML read as package data."""
