"""``python -m lithops.worker run-job``: the command of a batch-system task (see ``array_job``);
``python -m lithops.worker probe``: a runtime's version record (see ``probe``)."""

import sys

from lithops.worker.array_job import main

sys.exit(main())
