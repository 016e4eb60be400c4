"""arti's Connection in Postgres (the ports of domain/connection/)."""
