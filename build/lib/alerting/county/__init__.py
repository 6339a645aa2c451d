"""The county's own acts on incidents (register, acknowledge, close, forward) and their read side."""
