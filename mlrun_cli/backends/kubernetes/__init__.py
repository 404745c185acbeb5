"""The Kubernetes backend (`--backend kubernetes`): a run is a Job, a sweep one Indexed Job.

`backend.py` is the backend itself (the registry's `kubernetes`), and the rest lies below it, none
importing it: `submit.py` the one submit path (push the image, render the Job and the Secret of
its private variables, create both), for a run and for a sweep's Indexed Job (`sweep.py`);
`job.py` the manifest from the template; `resources.py` a container's limits and volumes; `api.py`
the API client, its calls and what a Job's or pod's status says; `logs.py` a pod's log read past
the last line seen. The `kubernetes` client is
imported only when this backend is chosen.
"""
