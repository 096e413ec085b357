"""Consents: purpose-bound, evidenced, revocable, with signed receipts in the person's language."""
