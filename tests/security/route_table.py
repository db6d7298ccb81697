"""Every route of the app, classified. A route missing here fails tests/security/test_route_table.py.

Kinds:
- public:  anyone, signed in or not
- login:   any signed-in user; anonymous users are sent to the sign-in page
- tenant:  a member of the tenant in the URL (others get 404, as if the tenant did not exist)
- permission:K  a member of the tenant allowed K (`module.action`) by the resolver (others get 403);
               checked against the view's @require(K)
"""

ROUTES: dict[str, str] = {
    "static": "public",
    "health.healthz": "public",
    "health.readyz": "public",
    "auth.login": "public",
    "auth.set_locale": "public",
    "auth.logout": "login",
    "tenants.home": "login",
    "tenants.dashboard": "tenant",
    "tenants.settings": "permission:settings.manage",
    "tenants.update_general": "permission:settings.manage",
}
