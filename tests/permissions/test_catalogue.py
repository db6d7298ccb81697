"""A permission is enforced where it is declared: every action of the catalogue is checked by some route, service
or template, so no action shows in the matrix (and takes rules) while nothing looks at it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app.core.actor import Actor
from app.extensions import db
from app.permissions import catalogue
from app.permissions.services import create_rule
from app.users.models import Role

APP = Path(__file__).resolve().parents[2] / "app"


def _string_constants(tree: ast.AST) -> set[str]:
    """Every string literal of a module except docstrings (a docstring naming an action checks nothing)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def _checked_keys(app) -> set[str]:
    found: set[str] = set()
    for view in app.view_functions.values():  # the gate (@require) and the API (@api_auth) on each route
        if getattr(view, "permission", None):
            found.add(view.permission)
    for path in APP.rglob("*.py"):  # can("..."), allows("..."), nav and card registrations, scope rights
        found |= _string_constants(ast.parse(path.read_text(), filename=str(path)))
    for path in APP.rglob("*.html"):  # templates: can('...')
        found |= set(re.findall(r"""can\(\s*["']([a-z_]+\.[a-z_]+)["']""", path.read_text()))
    return found


def test_every_declared_action_is_checked_somewhere(app):
    declared = {action.key for action in catalogue.actions()}
    unchecked = declared - _checked_keys(app)
    assert not unchecked, f"declared but never checked (enforce them, or do not declare them): {sorted(unchecked)}"


def test_a_declaration_nothing_checks_is_found(app):
    catalogue.declare("ghost", ("haunt", "Haunt", None))
    try:
        assert "ghost.haunt" not in _checked_keys(app)
    finally:
        catalogue._ACTIONS.pop("ghost.haunt")


@pytest.mark.config(FEATURE_MODULE_DENY_403=False)
def test_a_denied_dashboard_is_403_even_where_denials_redirect_to_it(client, auth, member_of):
    # With denials shown as "back to the dashboard", a denied dashboard would send people to itself forever.
    owner, tenant = member_of(Role.OWNER)
    create_rule(Actor(owner), tenant, user_id=owner.id, effect="deny", target="dashboard.view", reason="frozen")
    db.session.commit()
    auth.login(owner)
    assert client.get(f"/t/{tenant.slug}/").status_code == 403
    response = client.get(f"/t/{tenant.slug}/settings")  # other modules are still reachable
    assert response.status_code == 200
