"""``python -m lithops.worker run-job``: the command of a batch-system task (see ``array_job``)."""

import sys

from lithops.worker.array_job import main

sys.exit(main())
