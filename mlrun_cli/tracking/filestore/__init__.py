"""The `file:` tracker: MLflow's FileStore layout on disk, written and read by mlrun itself.

`store.py` is the tracker (`FileStore`); `records.py` reads and writes a run's files; `flat_yaml.py`
MLflow's flat meta.yaml without PyYAML; `search.py` the tag search of `--needed`; `index.py` the run
index under `$MLRUN_HOME/index` and `query.py` MLflow's search answered through it. Nothing here is
imported until the file store is chosen.
"""
