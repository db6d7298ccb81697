"""The periodic schedule for `rq cron jobs/cron.py` (one scheduler process).

Each entry is also a `flask` command, so a plain crontab can drive the same work without RQ.
"""

from rq import cron

from jobs import QUEUE
from jobs.maintenance import purge_soft_deleted

# 03:17 UTC daily: off the hour, when traffic is low.
cron.register(purge_soft_deleted, QUEUE, cron="17 3 * * *", name="purge-soft-deleted")
