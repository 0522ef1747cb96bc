"""`python -m pipelines.cli`: how compiled KFP specs and the trigger CronJob call the command."""

from pipelines.cli import entry

entry()
