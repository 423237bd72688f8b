"""The lowest app: the stream sockets (Sautikit's and a browser's), the Django-free path of one
call (core/), the ground floor every app stands on (ground/) and the development stand-ins
(devtools/). It knows no Call or Agent model: see records.py and docs/architecture.md."""
