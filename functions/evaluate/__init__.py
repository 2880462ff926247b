"""The evaluate function."""
