"""The periodic schedule for `rq cron jobs/cron.py` (one scheduler process).

Each entry is also a `flask` command, so a plain crontab can drive the same work without RQ.
"""

from rq import cron

from jobs import QUEUE
from jobs.invites import expire_invites
from jobs.mail import send_pending
from jobs.maintenance import purge_soft_deleted
from jobs.permissions import prune_expired_permissions
from jobs.sessions import cleanup_sessions_logs
from jobs.tokens import revoke_expired_tokens

# 03:17 UTC daily: off the hour, when traffic is low.
cron.register(purge_soft_deleted, QUEUE, cron="17 3 * * *", name="purge-soft-deleted")
# Hourly at :07: expired rules are already ignored; pruning keeps lists and the orphan report clean.
cron.register(prune_expired_permissions, QUEUE, cron="7 * * * *", name="prune-expired-permissions")
# Every 15 minutes (at :04, :19, :34, :49): expired tokens are refused already; this marks them revoked so
# lists, reports and the audit log say so soon after.
cron.register(revoke_expired_tokens, QUEUE, cron="4-59/15 * * * *", name="revoke-expired-tokens")
# Every 10 minutes (at :06, :16, ...): sessions past their limits are refused already; this ends them for the lists
# and deletes old rows (ended sessions, token usage past retention).
cron.register(cleanup_sessions_logs, QUEUE, cron="6-59/10 * * * *", name="cleanup-sessions-logs")
# Every 10 minutes (at :02, :12, ... :52): email still queued or failed goes out again (idempotent: a sent message
# is never sent twice), and delivered email older than MAIL_RETENTION_DAYS is deleted.
cron.register(send_pending, QUEUE, cron="2-59/10 * * * *", name="mail-send-pending")
# Every 15 minutes (at :09, :24, :39, :54): invites past their time are refused already; this marks them expired so
# the lists, the filters and the audit trail say so soon after.
cron.register(expire_invites, QUEUE, cron="9-59/15 * * * *", name="expire-invites")
