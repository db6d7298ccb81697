"""`flask sync-profiles` and `flask cleanup-sessions-logs`: idempotent maintenance commands."""

from datetime import timedelta

from sqlalchemy import delete, func, select

from app.core.mixins import utcnow
from app.extensions import db
from app.sessions.models import UserSession
from app.sessions.services import Lifetimes, start_session
from app.users.models import Profile


def test_sync_profiles_creates_the_missing_ones_once(run, create_user):
    kept, bare = create_user(), create_user()
    db.session.execute(delete(Profile).where(Profile.user_id == bare.id))
    db.session.commit()
    assert run("sync-profiles").output.strip() == "1 profiles created"
    assert run("sync-profiles").output.strip() == "0 profiles created"
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Profile)) == 2 and kept.profile is not None


def test_cleanup_ends_stale_sessions_and_deletes_old_rows(run, create_user):
    user = create_user()
    now = utcnow()
    lifetimes = Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    fresh, _ = start_session(user, ip="", user_agent="", now=now, lifetimes=lifetimes)
    idle, _ = start_session(user, ip="", user_agent="", now=now - timedelta(hours=1), lifetimes=lifetimes)
    old, _ = start_session(user, ip="", user_agent="", now=now - timedelta(days=40), lifetimes=lifetimes)
    old.ended_at, old.end_reason = now - timedelta(days=39), "idle"
    db.session.commit()
    fresh_id, idle_id, old_id = fresh.id, idle.id, old.id
    output = run("cleanup-sessions-logs").output
    assert "1 sessions ended, 1 old session rows deleted" in output
    db.session.expire_all()
    assert db.session.get(UserSession, fresh_id).ended_at is None
    assert db.session.get(UserSession, idle_id).ended_at is not None
    assert db.session.get(UserSession, old_id) is None
    assert "0 sessions ended, 0 old session rows deleted" in run("cleanup-sessions-logs").output


def test_an_operator_blocks_an_account_everywhere(run, client, auth, member_of):
    user, tenant = member_of()
    auth.login(user)
    result = run("users", "block", user.email)
    assert result.exit_code == 0 and "1 sessions ended" in result.output
    response = client.get(f"/t/{tenant.slug}/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert run("users", "unblock", user.email).exit_code == 0
    assert run("users", "block", "nobody@example.com").exit_code != 0
