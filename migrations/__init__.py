"""Ordered SQL files for the read models (``NNNN_name.sql``), applied by ``karma db migrate``."""
