"""Signed notifications (Standard Webhooks) to subscribed organisations, through an outbox."""
