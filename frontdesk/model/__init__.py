"""Domain types and rules, with no I/O."""
