"""Cooperation key figures (Kennzahlen): consents, queries, answer times and denials per
organisation and month, with small cells suppressed (see ``service``)."""
