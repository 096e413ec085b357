"""Organisations (municipalities, district offices, jobcenters, the operator) and their users."""
