# The per-system suites below run in their own virtualenvs (see runner.py), never in this session.
collect_ignore_glob = ["*/"]
