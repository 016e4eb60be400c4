"""The `artimeta-server` subcommands, one module each (serve, migrate, gc, token, workers); __main__.py
parses the command line and hands each its arguments and Settings. Only this package and
__main__.py start things from app.py's composition root: no module below imports it."""
