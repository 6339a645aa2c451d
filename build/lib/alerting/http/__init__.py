"""What the HTTP interfaces (api, web) share: the running service's typed context."""
