"""The web layer: the HTTP contract (DESIGN §3), gunicorn, its settings, token and logs, under
bad input and bad clients."""
