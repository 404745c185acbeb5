"""Real faults the tests inject: a server that accepts and never answers, a byte-counting proxy,
hangs and read-only disks mid-run."""
