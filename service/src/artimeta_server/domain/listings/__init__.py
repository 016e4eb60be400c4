"""Paged lists for people choosing what to look at: redun's executions and chariots' ops."""
