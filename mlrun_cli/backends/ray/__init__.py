"""The Ray backend (`--backend ray`): a run is a Ray job, submitted through Ray's Job Submission
API to a cluster that shares mlrun's file system.

`backend.py` is the backend itself (the registry's `ray`); `states.py` what a Ray job's status
says about its run; `logs.py` a job's log followed as one stream. Ray's client comes with the extra
`mlrun-cli[ray]` and is imported only when this backend is chosen.
"""
