"""Plain helpers every layer may use: no Django, no app (see docs/architecture.md)."""
