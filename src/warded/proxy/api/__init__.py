"""warded.proxy.api."""
