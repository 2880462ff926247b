"""DynamoDB access: one table (see ``keys`` for the key design), lazily created clients, audit records."""
