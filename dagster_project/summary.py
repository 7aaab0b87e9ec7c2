"""`python -m dagster_project.summary`, the name make run, Tilt's buttons and scripts/inspect-outputs.sh use for
control/summary.py."""

import sys

from dagster_project.control.summary import main

if __name__ == "__main__":
    sys.exit(main())
