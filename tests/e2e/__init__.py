"""End-to-end tests: the real hook under gunicorn, driven by a stand-in for Metacontroller."""
