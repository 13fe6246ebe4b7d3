"""Evaluation data written for warded (never trained on): ``indirect.yaml``."""
