"""HTTP routes, one module per area: system, search, ask, items, jobs, concepts."""
