"""redun's backend: the call graph, its cache decision, jobs, executions, handles, and the
records that sync provenance between databases."""
