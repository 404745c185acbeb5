"""A run from request to record: the plan (everything resolved once), the lifecycle that
owns a run from creation to its terminal record, and the entry points the CLI and API call."""
