"""OAuth 2.0 authorization server and the resource side's token checks."""
