"""The `http:`/`https:` tracker: an MLflow tracking server over its REST API.

`tracker.py` is the tracker (`RestTracker`: every call within the time budget, retries, writes);
`search.py` the runs searched, listed, deleted and restored, read into RunRecords; `http_client.py`
urllib with a connect limit apart from the call limit, auth headers, TLS. Nothing here is imported
until a server is the tracking URI (or the outbox sends to one).
"""
