"""Persons (subjects): pseudonymous ids, identity attributes sealed at rest, a blind index."""
