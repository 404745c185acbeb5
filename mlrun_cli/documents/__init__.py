"""Checked YAML documents, on the ground: every YAML file mlrun reads (the MLproject, env files, a
sweep file, `--backend-config`, a Kubernetes job template) is read and checked here, so that no
engine reads YAML through `project/`.

`yamlfile.py` reads a document once, with the line of every value and limits on size and depth;
`schema_check.py` checks it against a shipped JSON schema (`schemas.py`), every problem at its
line; `hints.py` words them (a value described, a "did you mean", a path as the user gave it).
"""
