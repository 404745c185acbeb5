"""Projects that come from git: a URL checked and redacted, the one hardened git CLI helper, the
fetch cache, and what a local work tree records.

`urls.py` parses, checks and redacts git URLs (imported on every run: it is small); `run.py` is
`run_git` (git's environment, a network command stopped after `call_s` with no progress);
`cache.py` the bare repositories fetched once under `$MLRUN_HOME` and a worktree per run;
`work_tree.py` what a local work tree records and the changed files its one `git status` lists.
"""
