"""Internal helpers of ``warded.scan.normalise``: character tables, hidden-character detection and decoders."""
