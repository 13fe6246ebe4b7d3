"""warded.bench."""
