"""warded.proxy.chat."""
