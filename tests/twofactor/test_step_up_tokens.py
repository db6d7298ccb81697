"""An admin-scope token needs a recent proof of who one is (the step-up, app.core.stepup): within 15 minutes of
signing in nothing more is asked; later, the password or an app's code in the create form's proof field."""

from datetime import timedelta

import time_machine
from sqlalchemy import select

from app.extensions import db
from app.tokens.models import ApiToken
from app.users.models import Role
from tests.conftest import PASSWORD


def _create(client, slug, scope, proof=None):
    data = {"new-name": f"{scope} token", "new-scope": scope, "new-expires": "30"}
    if proof is not None:
        data["new-proof"] = proof
    return client.post(f"/t/{slug}/tokens", data)


def test_an_admin_token_asks_for_a_proof_once_the_sign_in_is_old(client, auth, member_of):
    owner, tenant = member_of(Role.OWNER)
    auth.login(owner)
    assert 'name="new-proof"' not in client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
    assert _create(client, tenant.slug, "admin").status_code in {302, 303}  # signed in just now
    with time_machine.travel(timedelta(minutes=16)):
        page = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
        assert 'name="new-proof"' in page
        assert _create(client, tenant.slug, "read").status_code in {302, 303}  # only the admin scope asks
        refused = _create(client, tenant.slug, "admin", proof="wrong password")
        assert refused.status_code == 422 and "That password or code is not right" in refused.get_data(as_text=True)
        missing = _create(client, tenant.slug, "admin")
        assert missing.status_code == 422 and "Confirm it" in missing.get_data(as_text=True)
        assert _create(client, tenant.slug, "admin", proof=PASSWORD).status_code in {302, 303}
        assert _create(client, tenant.slug, "admin").status_code in {302, 303}  # proved just now
    scopes = sorted(db.session.scalars(select(ApiToken.scope).execution_options(all_tenants=True)))
    assert [str(s) for s in scopes] == ["admin", "admin", "admin", "read"]
