"""Run records and following: reading a run from either backend, following it, its choice, its consents, the published records."""
