"""Private building blocks of :mod:`warded.policy.constraints`: one argument-constraint family per module."""
