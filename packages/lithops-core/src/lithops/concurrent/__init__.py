"""``lithops.concurrent.futures``: the standard ``concurrent.futures`` interface on any backend."""
