"""The read side: queries over the projections' tables, time travel, provenance."""
