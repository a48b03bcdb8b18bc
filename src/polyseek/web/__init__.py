"""The browser UI: static files (plain ES modules) served by :mod:`polyseek.server`."""
