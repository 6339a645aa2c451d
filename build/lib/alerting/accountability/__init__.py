"""The accountability log itself: entries and their hash chain, appending, verifying."""
