"""Economy policies shipped with the project (TOML). ``default.toml`` is used unless
KARMA_POLICY names another file."""
