"""Consent gateway between municipalities and jobcenters."""
