"""warded.decide."""
