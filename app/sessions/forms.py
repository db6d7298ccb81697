"""Session forms: ending a session is a confirmed POST with a one-time nonce and nothing to type."""

from app.core.forms import GuardedForm


class EndSessionForm(GuardedForm):
    """End one session, or every other one."""
