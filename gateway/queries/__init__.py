"""Routed queries: asking, deciding, routing to adapters, answering, delivering."""
