"""Every route of the app, classified. A route missing here fails tests/security/test_route_table.py.

Kinds:
- public:  anyone, signed in or not
- login:   any signed-in user; anonymous users are sent to the sign-in page
- tenant:  a member of the tenant in the URL (others get 404, as if the tenant did not exist)
- permission:K  a member of the tenant allowed K (`module.action`) by the resolver (others get 403);
               checked against the view's @require(K)
- api:S:K  JSON API: a bearer token whose scope covers S and whose owner is allowed `api.S` and K
           (K is `-` when any member may); the tenant is the token's. Checked against @api_auth(S, K).
"""

ROUTES: dict[str, str] = {
    "static": "public",
    "health.healthz": "public",
    "health.readyz": "public",
    "auth.login": "public",
    "auth.set_locale": "public",
    "auth.logout": "login",
    "auth.forgot_password": "public",
    "auth.open_reset": "public",
    "auth.reset_form": "public",
    # The join flow: anyone holding a code; joining itself needs a signed-in person (or makes one), the session
    # stage gate keeps a half-signed-in session out.
    "invites.join": "public",
    "invites.join_link": "public",
    "invites.join_continue": "public",
    "invites.join_signup": "public",
    "invites.join_accept": "public",
    "auth_settings.update_signin": "permission:settings.manage",
    "users.account": "login",
    "users.update_account": "login",
    "users.update_password": "login",
    "users.confirm_reset": "permission:users.manage",
    "users.send_reset_link": "permission:users.manage",
    "tenants.home": "login",
    "tenants.dashboard": "permission:dashboard.view",
    "tenants.settings": "permission:settings.manage",
    "tenants.update_general": "permission:settings.manage",
    "permissions.page": "permission:permissions.view",
    "permissions.explain_decision": "permission:permissions.view",
    "permissions.check_access": "permission:permissions.view",
    "permissions.create_rule": "permission:permissions.manage",
    "permissions.rules_address": "permission:permissions.view",
    "permissions.delete_rule": "permission:permissions.manage",
    "permissions.edit_rule": "permission:permissions.manage",
    "tokens.page": "permission:tokens.view",
    "tokens.create_token": "permission:tokens.create",
    "tokens.show_token": "permission:tokens.view",
    "tokens.confirm_revoke": "permission:tokens.revoke",
    "tokens.revoke_token": "permission:tokens.revoke",
    "tokens.confirm_rotate": "permission:tokens.revoke",
    "tokens.rotate_token": "permission:tokens.revoke",
    "tokens.update_limits": "permission:tokens.revoke",
    "tokens.update_policy": "permission:settings.manage",
    "sessions.account_sessions": "login",
    "sessions.confirm_end_own": "login",
    "sessions.end_own": "login",
    "sessions.confirm_end_others": "login",
    "sessions.end_others": "login",
    "sessions.tenant_sessions": "permission:sessions.view",
    "sessions.confirm_end_member": "permission:sessions.manage",
    "sessions.end_member": "permission:sessions.manage",
    "users.page": "permission:users.view",
    "users.export": "permission:users.view",
    "users.show": "permission:users.view",
    "users.confirm_action": "permission:users.manage",
    "users.run_action": "permission:users.manage",
    "users.confirm_role": "permission:users.manage",
    "users.change_member_role": "permission:users.manage",
    "users.confirm_bulk": "permission:users.manage",
    "users.run_bulk": "permission:users.manage",
    # The second factor: one's own. /auth/2fa and the code it sends are open to a session at the second step
    # (reachable_at); /account/security and enrollment also to a session that must enroll first.
    "twofactor.second_step": "login",
    "twofactor.send_sign_in_code": "login",
    "twofactor.security": "login",
    "twofactor.start_enrollment": "login",
    "twofactor.enroll": "login",
    "twofactor.confirm_enrollment": "login",
    "twofactor.new_codes": "login",
    "twofactor.regenerate_codes": "login",
    "twofactor.send_step_up_code": "login",
    "twofactor.confirm_remove": "login",
    "twofactor.remove_app": "login",
    "twofactor.confirm_forget": "login",
    "twofactor.forget_browser": "login",
    "twofactor_admin.update_policy": "permission:settings.manage",
    "twofactor_admin.confirm_member_reset": "permission:users.manage",
    "twofactor_admin.reset_member": "permission:users.manage",
    "invites.page": "permission:invites.view",
    "invites.issue": "permission:invites.create",
    "invites.create_link": "permission:invites.create",
    "invites.confirm_revoke": "permission:invites.revoke",
    "invites.revoke": "permission:invites.revoke",
    "invites.confirm_resend": "permission:invites.revoke",
    "invites.resend": "permission:invites.revoke",
    "invites.renew": "permission:invites.revoke",
    "invites.approve": "permission:invites.revoke",
    "invites.confirm_decline": "permission:invites.revoke",
    "invites.decline": "permission:invites.revoke",
    "invites.update_settings": "permission:settings.manage",
    "api.openapi": "public",
    # The development outbox: outside production, without SMTP only (404 otherwise); no sign-in, so a person who
    # forgot their password can read the reset mail in development.
    "mail.outbox": "public",
    "mail.outbox_message": "public",
    "api.docs": "public",
    "tokens_api.me": "api:read:-",
    "tokens_api.list_tokens": "api:read:tokens.view",
    "tokens_api.create_token": "api:write:tokens.create",
    "tokens_api.show_token": "api:read:tokens.view",
    "tokens_api.revoke_token": "api:write:tokens.revoke",
    "tokens_api.rotate_token": "api:write:tokens.revoke",
    "tokens_api.introspect": "api:read:tokens.manage",
    "permissions_api.list_rules": "api:read:permissions.view",
    "permissions_api.create_rule": "api:admin:permissions.manage",
    "permissions_api.delete_rule": "api:admin:permissions.manage",
    "permissions_api.check": "api:read:permissions.view",
    "users_api.list_users": "api:admin:users.view",
    "users_api.show_user": "api:admin:users.view",
    "users_api.update_user": "api:admin:users.manage",
    "sessions_api.list_sessions": "api:admin:sessions.view",
    "sessions_api.end_session": "api:admin:sessions.manage",
    "twofactor_api.my_twofa": "api:read:-",
    "twofactor_api.reset_member_twofa": "api:admin:users.manage",
    "invites_api.create_invite": "api:write:invites.create",
    "invites_api.list_invites": "api:read:invites.view",
    "invites_api.show_invite": "api:read:invites.view",
    "invites_api.revoke_invite": "api:write:invites.revoke",
    "invites_api.resend_invite": "api:write:invites.revoke",
    # Public, with no token: is an invite code good? (rate limited per address; answers valid or not only)
    "invites_api.validate_code": "public",
}


# The privilege ceiling (docs/decisions.md): nothing a person or token creates, rotates or changes may grant more
# than the actor has, and nobody acts on a person ranking above them. Every route that changes something (POST,
# PUT, PATCH, DELETE) is listed here: with the cases of tests/security/test_privilege_ceiling.py that try to
# break the ceiling through it, or with the reason it creates, rotates or changes no credential, rule, role or
# membership. A new changing route fails test_every_changing_route_is_under_the_ceiling until it is listed.
CEILING: dict[str, tuple[str, ...] | str] = {
    "auth.login": "signs a person in as themselves; grants nothing",
    "auth.logout": "ends one's own sign-in",
    "auth.set_locale": "a display preference",
    "auth.forgot_password": "mails a link to the address typed, if it has an account; grants nothing",
    "auth.reset_form": "sets the password of the account a single-use link was mailed to; grants nothing more",
    "invites.join": "checks a typed invite code; changes nothing",
    "invites.join_signup": "a new account joins with the role its invite names (capped by the issuer's role when "
                           "issued); the invite is the grant, used once",
    "invites.join_accept": "the signed-in person joins with the role its invite names (capped by the issuer's "
                           "role when issued); the invite is the grant, used once",
    "users.update_account": "one's own name, language and time zone",
    "auth_settings.update_signin": "the tenant's lock threshold (settings.manage), only stricter than the platform's",
    "users.update_password": "one's own password (the current one first)",
    "twofactor.second_step": "passes one's own second step; grants nothing beyond one's own sign-in",
    "twofactor.send_sign_in_code": "emails one's own sign-in code to one's own address",
    "twofactor.start_enrollment": "adds an authenticator app to one's own account (a recent proof first)",
    "twofactor.confirm_enrollment": "turns on one's own pending app",
    "twofactor.regenerate_codes": "replaces one's own recovery codes (a recent proof first)",
    "twofactor.send_step_up_code": "emails one's own step-up code to one's own address",
    "twofactor.remove_app": "removes one of one's own apps (found among one's own only; a recent proof first)",
    "twofactor.forget_browser": "forgets one of one's own remembered browsers (found among one's own only)",
    "users.send_reset_link": ("admin_sends_owner_reset_page",),
    "tenants.update_general": "the tenant's name, time zone and language: no credential, rule, role or membership",
    "tokens.update_policy": "the tenant's token lifetimes (settings.manage): bounds tokens, grants no right",
    "twofactor_admin.update_policy": "which roles must use a second factor (settings.manage): asks more of "
                                     "members, grants no right",
    "twofactor_admin.reset_member": ("admin_resets_owner_twofa_page",),
    "twofactor_api.reset_member_twofa": ("admin_resets_owner_twofa_api",),
    "tokens_api.introspect": "reads a token's standing; changes nothing",
    "permissions_api.check": "reads a decision; changes nothing",
    "sessions.end_own": "ends one of one's own sessions (found among one's own only)",
    "sessions.end_others": "ends one's own other sessions",
    "sessions.end_member": ("admin_ends_owner_session_page",),
    "users.run_action": ("admin_blocks_owner_page", "admin_signs_out_owner_page"),
    "users.change_member_role": ("admin_makes_someone_owner_page", "admin_demotes_owner_page",
                                 "last_owner_keeps_the_tenant_page"),
    "users.run_bulk": ("admin_bulk_blocks_owner_page",),
    "users_api.update_user": ("admin_blocks_owner_api", "admin_demotes_owner_api", "admin_makes_someone_owner_api",
                              "last_owner_keeps_the_tenant_api", "demoted_admin_token_is_refused_api"),
    "sessions_api.end_session": ("admin_ends_owner_session_api",),
    "tokens.create_token": ("member_asks_admin_scope",),
    "tokens_api.create_token": ("write_token_mints_admin",),
    "tokens.rotate_token": ("admin_rotates_others_token_page",),
    "tokens_api.rotate_token": ("write_token_rotates_admin_token", "admin_rotates_others_token_api"),
    "tokens.revoke_token": ("admin_revokes_owner_token_page",),
    "tokens_api.revoke_token": ("admin_revokes_owner_token_api",),
    "tokens.update_limits": ("admin_changes_owner_limits",),
    "invites.issue": ("admin_invites_an_owner_page",),
    "invites.create_link": ("admin_links_to_owner_page",),
    "invites.revoke": ("admin_revokes_owner_invite_page",),
    "invites.resend": ("admin_resends_owner_invite_page",),
    "invites.renew": ("admin_renews_owner_invite_page",),
    "invites.approve": ("admin_approves_owner_join_page",),
    "invites.decline": "refuses a join: gives no membership, grants nothing",
    "invites.update_settings": "the tenant's invite lifetime and daily limit (settings.manage): bounds invites, "
                               "grants no right",
    "permissions.create_rule": ("admin_rules_on_owner_page", "grant_beyond_own_rights_page"),
    "permissions_api.create_rule": ("admin_rules_on_owner_api", "grant_beyond_own_rights_api"),
    "permissions.delete_rule": ("admin_removes_owner_rule_page", "remove_deny_beyond_rights_page",
                                "global_rule_is_not_found_page"),
    "permissions.edit_rule": ("admin_edits_owner_rule_page", "extend_allow_beyond_rights_page",
                              "shorten_deny_beyond_rights_page", "global_rule_edit_is_not_found_page"),
    "permissions_api.delete_rule": ("admin_removes_owner_rule_api", "remove_deny_beyond_rights_api",
                                    "global_rule_is_not_found_api"),
    "invites_api.create_invite": ("write_token_invites_above_owner_role_api",),
    "invites_api.revoke_invite": ("admin_revokes_owner_invite_api",),
    "invites_api.resend_invite": ("admin_resends_owner_invite_api",),
    "invites_api.validate_code": "reads whether a code is good; changes nothing",
}

#: JSON routes that take no token (classified `public` above), described by the OpenAPI document like the others
PUBLIC_API: set[str] = {"invites_api.validate_code"}


def api_routes() -> dict[str, tuple[str, str | None]]:
    """endpoint -> (scope, permission or None) for every JSON API route."""
    out = {}
    for endpoint, kind in ROUTES.items():
        if kind.startswith("api:"):
            _, scope, permission = kind.split(":", 2)
            out[endpoint] = (scope, None if permission == "-" else permission)
    return out
