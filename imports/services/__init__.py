"""Writes of the imports app, by concern.

- `jobs`: the public verbs of an import job's life (create, preview, run, cancel, resume, and
  the worker's execute); admin views, commands and tasks call these.
- `execution`: how a job runs: the pipeline assembled once (`_pipeline_for`), the claim under
  the organisation lock, the per-batch transaction with its resume marker, and the failure
  helpers. Only `jobs` calls it.

Nothing is re-exported here: import from the module that defines a name.
"""
