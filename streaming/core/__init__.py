"""The live call's audio path in plain asyncio and numpy: no Django, no app.

See docs/architecture.md for what may import what.
"""
