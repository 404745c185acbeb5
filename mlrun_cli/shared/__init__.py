"""The ground every layer stands on, knowing none of them: tag keys and exit codes (`tags`),
`$MLRUN_HOME` and atomic writes (`home`), the one subprocess helper (`process`) and output pump
(`streaming`), the plugin registry (`registry`), the time budget of what mlrun sends (`budget`), the
types several engines share (`types`: `RunStatus`, `JobState`, `ContainerSpec`), a run's job
folder records (`job_records`), the Docker engine and `-A` options (`docker_engine`,
`docker_args`), and a URI's credentials (`uri_credentials`)."""
