"""The call graph, caches, jobs, handles and redun's sync records in Postgres, one repository
per kind of row."""
