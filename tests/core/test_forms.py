"""The form helper (app/core/forms.py) and its one-time nonce (app/core/formnonce.py): every failing field at once
with a summary, a repeated submit refused with nothing done twice, post/redirect/get on success, and a refusal
rolled back."""

from __future__ import annotations

import re
import threading
import time

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import StringField

from app.core import formnonce
from app.core.actor import Actor
from app.core.errors import Conflict, ValidationFailed
from app.core.fieldadapters import FieldErrors
from app.core.forms import REPEATED, STALE, GuardedForm, Saved, handle_form, show_error
from app.extensions import db
from app.permissions.models import PermissionRule
from app.tenants.models import Tenant
from app.tokens import services
from app.tokens.models import ApiToken
from app.users.models import Role

CREATE = {"HX-Target": "div#tokens-create"}


@pytest.fixture
def admin(client, auth, member_of):
    """An admin of a tenant, signed in."""
    user, tenant = member_of(Role.ADMIN, email="admin@example.com")
    auth.login(user)
    return user, tenant


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).execution_options(all_tenants=True))


def _token_form(**changes) -> dict:
    data = {"new-name": "deploy", "new-scope": "read", "new-expires_in_days": "30"}
    data.update(changes)
    return data


# ---------------------------------------------------------------- every failing field at once


@pytest.mark.parametrize("htmx", [True, False])
def test_every_failing_field_of_the_service_is_shown_at_once_with_a_summary(client, admin, htmx):
    _, tenant = admin
    data = {"policy-default_days": "30", "policy-max_days": "5000", "policy-rotation_grace_minutes": "-1"}
    response = client.post(f"/t/{tenant.slug}/settings/tokens", data, htmx=htmx)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and ("<html" in body) is not htmx
    # the summary takes the focus when it appears (static/js/app.js): focusable, and marked for the script
    summary = re.search(
        r'<div class="alert alert-danger" role="alert" tabindex="-1" data-error-summary autofocus>(.*?)</div>',
        body, re.S).group(1)
    assert "Some fields need attention." in summary
    assert 'href="#policy-max_days"' in summary and "The maximum lifetime is 1 to 3650 days." in summary
    assert 'href="#policy-rotation_grace_minutes"' in summary
    assert "The grace period is 0 to 10080 minutes (7 days)." in summary
    assert body.count('aria-invalid="true"') == 2  # each field marked, its message next to it


def test_the_service_reports_every_field_it_refuses(app, member_of):
    """Cross-field and per-field refusals of one call come together (the API's problem carries `errors`)."""
    user, tenant = member_of(Role.ADMIN)
    with pytest.raises(ValidationFailed) as info:
        services.update_token_policy(Actor(user), tenant, default_days=0, max_days=9999, allow_no_expiry=False,
                                     rotation_grace_minutes=99999)
    assert [e["loc"] for e in info.value.extra["errors"]] == [["max_days"], ["default_days"],
                                                              ["rotation_grace_minutes"]]
    assert info.value.field == "max_days"  # the first, for callers that show one


def test_fields_refused_by_the_form_and_its_checks_come_together(client, auth, member_of):
    user, tenant = member_of(Role.MEMBER)
    auth.login(user)
    response = client.post(f"/t/{tenant.slug}/tokens", _token_form(**{
        "new-name": "", "new-rate_limit": "0", "new-ip_allow": "not-an-ip"}), htmx=True, headers=CREATE)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("This field is required.", "The limit is 1 to 100000 requests per minute.",
                    "not-an-ip is not an IP address or CIDR range."):
        assert message in body
    assert body.count("<li>") >= 3 and _count(ApiToken) == 0


def test_field_errors_collect_and_other_refusals_leave_at_once():
    def refuse(field):
        raise ValidationFailed(f"{field} is wrong", field=field)

    with pytest.raises(ValidationFailed) as info, FieldErrors() as errors:
        assert errors.collect(refuse, "a") is None
        errors.refuse("b", "b is wrong")
        assert errors.collect(lambda: 7) == 7
    assert info.value.extra["errors"] == [{"loc": ["a"], "msg": "a is wrong", "type": "value_error"},
                                          {"loc": ["b"], "msg": "b is wrong", "type": "value_error"}]
    assert (info.value.field, info.value.detail) == ("a", "a is wrong")
    with pytest.raises(Conflict), FieldErrors() as errors:
        errors.refuse("a", "kept")
        errors.collect(lambda: (_ for _ in ()).throw(Conflict("state")))
    with FieldErrors() as errors:  # nothing refused: nothing raised
        errors.collect(lambda: None)


# ---------------------------------------------------------------- a repeated submit


def test_a_repeated_submit_creates_nothing_twice(client, auth, member_of):
    user, tenant = member_of(Role.MEMBER)
    auth.login(user)
    nonce = client.nonce()
    # (the secret is shown once, after the redirect of post/redirect/get or in the htmx answer)
    first = client.post(f"/t/{tenant.slug}/tokens", {**_token_form(), "form_nonce": nonce}, follow_redirects=True)
    secret = re.search(r"hbx_p_[0-9A-Za-z]{36}", first.get_data(as_text=True)).group(0)
    for htmx in (False, True):  # a reload of the POST, a double click
        again = client.post(f"/t/{tenant.slug}/tokens", {**_token_form(), "form_nonce": nonce}, htmx=htmx,
                            headers=CREATE)
        body = again.get_data(as_text=True)
        assert again.status_code == 409 and str(REPEATED) in body
        assert secret not in body and not re.search(r"hbx_p_[0-9A-Za-z]{36}", body)  # no secret again
    assert _count(ApiToken) == 1
    fresh = client.post(f"/t/{tenant.slug}/tokens", _token_form(name="second"))  # a new rendering: a new nonce
    assert fresh.status_code in {200, 302, 303} and _count(ApiToken) == 2


def test_a_repeated_rule_or_settings_submit_is_refused(client, admin, create_user):
    user, tenant = admin
    member = create_user("member@example.com", tenant=tenant)
    rule = {"user_id": str(member.id), "effect": "deny", "target": "settings.*", "reason": "once",
            "form_nonce": client.nonce()}
    assert client.post(f"/t/{tenant.slug}/permissions/rules", rule).status_code == 302
    assert client.post(f"/t/{tenant.slug}/permissions/rules", rule, htmx=True).status_code == 409
    assert _count(PermissionRule) == 1
    settings = {"name": "Renamed", "timezone": "UTC", "default_locale": "en", "form_nonce": client.nonce()}
    assert client.post(f"/t/{tenant.slug}/settings/general", settings).status_code == 302
    repeated = client.post(f"/t/{tenant.slug}/settings/general", {**settings, "name": "Again"})
    assert repeated.status_code == 409 and str(REPEATED) in repeated.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).name == "Renamed"


@pytest.mark.parametrize("nonce", ["", "garbage", "a.1.b", "x" * 300, "é.1.abc"])
def test_a_missing_or_forged_nonce_asks_for_a_reload(client, auth, member_of, nonce):
    user, tenant = member_of(Role.MEMBER)
    auth.login(user)
    response = client.post(f"/t/{tenant.slug}/tokens", {**_token_form(), "form_nonce": nonce}, htmx=True,
                           headers=CREATE)
    assert response.status_code == 400 and str(STALE) in response.get_data(as_text=True)
    assert _count(ApiToken) == 0


def test_a_nonce_from_another_key_or_too_old_is_refused(app, monkeypatch):
    with app.test_request_context():
        good = formnonce.issue()
        random_part, issued, mac = good.split(".")
        assert formnonce.spend(f"{random_part}.{int(issued) - 1}.{mac}") is formnonce.Verdict.INVALID
        monkeypatch.setattr(time, "time", lambda: int(issued) + formnonce.max_age() + 1)
        assert formnonce.spend(good) is formnonce.Verdict.INVALID
        monkeypatch.undo()
        assert formnonce.spend(good) is formnonce.Verdict.FRESH
        assert formnonce.spend(good) is formnonce.Verdict.SPENT
        db.session.rollback()


def test_the_form_macro_renders_a_fresh_nonce_each_time(client, admin):
    _, tenant = admin
    pages = [client.get(f"/t/{tenant.slug}/settings").get_data(as_text=True) for _ in range(2)]
    nonces = [re.findall(r'name="form_nonce" value="([^"]+)"', page) for page in pages]
    assert len(nonces[0]) == 5 and len(set(nonces[0] + nonces[1])) == 10  # five sections, two renderings


def test_spent_nonces_are_purged_once_too_old(app):
    from datetime import timedelta

    from app.core.mixins import utcnow
    from app.core.retention import purge_soft_deleted

    db.session.add_all([formnonce.SpentNonce(nonce="old", spent_at=utcnow() - timedelta(days=2)),
                        formnonce.SpentNonce(nonce="new", spent_at=utcnow())])
    db.session.commit()
    assert purge_soft_deleted()["spent_form_nonce"] == 1
    db.session.commit()
    assert db.session.scalars(select(formnonce.SpentNonce.nonce)).all() == ["new"]


# ---------------------------------------------------------------- success and refusal


def test_success_redirects_with_a_flash_and_htmx_gets_its_fragment(client, admin):
    _, tenant = admin
    data = {"policy-default_days": "30", "policy-max_days": "180", "policy-rotation_grace_minutes": "15"}
    response = client.post(f"/t/{tenant.slug}/settings/tokens", data)
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings#section-tokens")
    assert "Token policy saved." in client.get(response.headers["Location"]).get_data(as_text=True)
    fragment = client.post(f"/t/{tenant.slug}/settings/tokens", data, htmx=True).get_data(as_text=True)
    assert "Token policy saved." in fragment and "<html" not in fragment and 'name="form_nonce"' in fragment


class _NameForm(GuardedForm):
    class Meta:
        csrf = False

    name = StringField()


def test_a_refusal_rolls_back_what_the_service_did_and_leaves_the_nonce_unspent(app, create_tenant):
    tenant = create_tenant(name="Before")

    def run(form):
        db.session.get(Tenant, tenant.id).name = form.name.data
        db.session.flush()  # written, then refused: nothing of it may stay
        raise ValidationFailed("Not this name.", field="name")

    with app.test_request_context():
        nonce = formnonce.issue()
    with app.test_request_context(method="POST", data={"name": "After", "form_nonce": nonce}):
        form = _NameForm(MultiDict({"name": "After"}))
        body, status = handle_form(form, run, render=lambda f: "form", done=lambda r: "done")
        assert (body, status) == ("form", 422) and form.name.errors == ["Not this name."]
        db.session.commit()  # the request's end
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).name == "Before"
    assert _count(formnonce.SpentNonce) == 0  # the corrected form can be sent with the same nonce
    with app.test_request_context(method="POST", data={"name": "After", "form_nonce": nonce}):
        answer = handle_form(_NameForm(MultiDict({"name": "After"})), lambda form: "ok", render=lambda f: "form",
                             done=lambda result: Saved("Saved.", "/next"))
        assert answer.status_code == 302 and answer.headers["Location"] == "/next"


def test_an_error_without_a_field_or_on_a_hidden_field_is_said_above_the_form(app):
    with app.test_request_context(method="POST", data={"form_nonce": "x"}):
        form = _NameForm(MultiDict({"name": "x"}))
        errors = [{"loc": ["name"], "msg": "on the field"}, {"loc": ["scope"], "msg": "not shown"},
                  {"loc": [], "msg": "above"}]
        refusal = ValidationFailed("whole", errors=errors)
        show_error(form, refusal, hidden=("name",))
        assert form.name.errors == () and form.form_errors == ["on the field", "not shown", "above"]


@pytest.mark.postgres
def test_two_racing_submits_of_one_form_act_once(app):
    """On PostgreSQL the second INSERT of a nonce waits for the first transaction: exactly one acts."""
    nonce = formnonce.issue()
    verdicts, barrier = [], threading.Barrier(2)

    def submit():
        with app.app_context():
            barrier.wait()
            verdicts.append(formnonce.spend(nonce))
            time.sleep(0.2)  # hold the transaction open while the other one tries
            db.session.commit()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(v.value for v in verdicts) == ["fresh", "spent"]
