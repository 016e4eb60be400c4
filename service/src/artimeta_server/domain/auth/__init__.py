"""Who is calling and what they may do: roles, grants, bearer tokens, the failure budget."""
