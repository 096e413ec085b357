"""The access guard: one place decides every use of personal data (``guard``)."""
