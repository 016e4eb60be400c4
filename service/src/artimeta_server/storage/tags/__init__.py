"""redun's tags in Postgres (the ports of domain/tags/)."""
