"""Every route of the app, classified. A route missing here fails tests/security/test_route_table.py.

Kinds:
- public:  anyone, signed in or not
- login:   any signed-in user; anonymous users are sent to the sign-in page
- tenant:  a member of the tenant in the URL (others get 404, as if the tenant did not exist)
- role:X   a member of the tenant whose role ranks at least X (lower roles get 403)
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
    "tenants.settings": "role:admin",
    "tenants.update_general": "role:admin",
}
