"""`python -m pipelines.cli`: how compiled KFP specs and the trigger CronJob call the command."""

import sys

from pipelines.cli import main

sys.exit(main())
