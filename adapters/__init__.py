"""The outside world behind small interfaces: servers, databases, message brokers."""
