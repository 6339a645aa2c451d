"""Pages for people in a browser (Chinese first); today the acknowledgement-link page."""
