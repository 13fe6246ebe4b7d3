"""warded.config."""
