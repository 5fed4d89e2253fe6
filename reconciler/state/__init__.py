"""The state: the lock as values, its JSON, and the backends that store and guard it."""
