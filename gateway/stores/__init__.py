"""Persistence of the gateway: `database.Database` (shared) and one schema module per store
(table definitions and the typed rows they read back)."""
