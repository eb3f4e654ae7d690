"""Lifecycle deadlines: the rules' use cases, the runner that fires them, its own process."""
