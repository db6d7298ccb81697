"""What each audit action means, in words, for the pages that show events to people.

The action code (`member.blocked`) stays what is stored, exported and filtered on; the pages show its label in
the reader's language. An action without a label here is shown as its code, so a new action is never hidden.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ACTION_LABELS = {
    "account.status_changed": _l("Account status changed"),
    "auth.account_locked": _l("Sign-in locked after failed attempts"),
    "auth.login_failed": _l("Sign-in failed"),
    "auth.login_succeeded": _l("Signed in successfully"),
    "auth.logout": _l("Signed out"),
    "auth.password_changed": _l("Password changed"),
    "auth.password_reset": _l("Password reset through a link"),
    "auth.reset_requested": _l("Password reset requested"),
    "invite.accepted": _l("Invite accepted"),
    "invite.created": _l("Invite created"),
    "invite.expired": _l("Invite expired"),
    "invite.join_approved": _l("Request to join approved"),
    "invite.join_declined": _l("Request to join declined"),
    "invite.join_requested": _l("Asked to join by a link"),
    "invite.renewed": _l("Expired invite renewed"),
    "invite.resent": _l("Invite resent with a new code"),
    "invite.revoked": _l("Invite revoked"),
    "invite.settings_changed": _l("Invite settings changed"),
    "member.blocked": _l("Blocked in this organization"),
    "member.unblocked": _l("Unblocked"),
    "member.unlocked": _l("Sign-in unlocked"),
    "member.role_changed": _l("Role changed"),
    "member.removed": _l("Removed from the organization"),
    "member.restored": _l("Restored to the organization"),
    "member.signed_out_everywhere": _l("Signed out everywhere by an admin"),
    "member.reset_sent": _l("Password reset link sent by an admin"),
    "member.twofa_reset": _l("Two-step sign-in reset by an admin"),
    "membership.created": _l("Joined the organization"),
    "operator.granted": _l("Made a platform operator"),
    "operator.revoked": _l("No longer a platform operator"),
    "permission.denied": _l("Access denied"),
    "permission.rule_created": _l("Permission rule added"),
    "permission.rule_deleted": _l("Permission rule deleted"),
    "permission.rule_pruned": _l("Expired permission rule removed"),
    "permission.rule_updated": _l("Permission rule changed"),
    "session.ended": _l("Session ended"),
    "session.ended_by_admin": _l("Session ended by an admin"),
    "session.others_ended": _l("Other sessions ended"),
    "tenant.created": _l("Organization created"),
    "tenant.settings_changed": _l("Organization settings changed"),
    "tenant.signin_settings_changed": _l("Sign-in settings changed"),
    "tenant.twofa_policy_changed": _l("Two-step sign-in policy changed"),
    "token.chain_revoked": _l("Token and its rotations revoked"),
    "token.created": _l("API token created"),
    "token.limits_changed": _l("API token limits changed"),
    "token.policy_changed": _l("API token policy changed"),
    "token.revoked": _l("API token revoked"),
    "token.rotated": _l("API token rotated"),
    "twofa.device_added": _l("Authenticator app added"),
    "twofa.device_removed": _l("Authenticator app removed"),
    "twofa.recovery_regenerated": _l("New recovery codes made"),
    "twofa.second_step": _l("Second sign-in step"),
    "twofa.step_up": _l("Confirmed it's them again"),
    "twofa.locked": _l("Second step locked after wrong codes"),
    "twofa.disabled": _l("Authenticator codes turned off after wrong codes"),
    "twofa.secret_unreadable": _l("Authenticator secret could not be read"),
    "twofa.browser_forgotten": _l("Remembered browser forgotten"),
    "twofa.metrics_reset": _l("Two-step sign-in counters reset by an operator"),
    "twofa.secrets_reencrypted": _l("Authenticator app secrets re-encrypted by an operator"),
}

OUTCOME_LABELS = {"success": _l("succeeded"), "failure": _l("failed")}


def action_label(action: str) -> str:
    """The action in words, or its code when it has no label."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def outcome_label(outcome: str) -> str:
    label = OUTCOME_LABELS.get(outcome)
    return str(label) if label is not None else outcome


def register_labels(app) -> None:
    """The `audit_action` and `audit_outcome` template filters."""
    app.jinja_env.filters["audit_action"] = action_label
    app.jinja_env.filters["audit_outcome"] = outcome_label
