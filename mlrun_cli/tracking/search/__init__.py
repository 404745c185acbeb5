"""Finding runs in any tracker with MLflow's search grammar.

`grammar.py` parses a filter and order keys as MLflow 3 parses them; `evaluate.py` matches and
orders runs as MLflow's SearchUtils does, for the stores whose filter mlrun evaluates itself (a
server or MLflow's client judges its own); `runs.py` searches any tracker (its own `query_runs`, or
`search_runs` filtered and ordered here) and deletes or restores runs.
"""
