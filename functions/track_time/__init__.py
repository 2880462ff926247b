"""The track_time function."""
