"""Logs, request context and (later) traces and metrics; never personal data."""
