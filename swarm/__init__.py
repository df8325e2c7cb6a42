"""The research swarm (seed 000): twelve agents and a reviewer that read papers, extract their
figures, compare, debate and write a report, paid in karma for the quality of their work."""
