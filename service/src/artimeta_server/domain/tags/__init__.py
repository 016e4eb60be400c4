"""TagService: redun's tags, immutable and superseded through edit edges."""
