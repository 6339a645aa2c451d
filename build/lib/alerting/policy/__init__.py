"""The county's rules as data: the policy model and its loader, calendar, roster, channels, durations."""
