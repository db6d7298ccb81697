from app.extensions import db
from app.tokens import services, usage
from app.users.models import Role


def test_me_with_a_token(client, member_of):
    user, tenant = member_of(Role.ADMIN)
    issued = services.create_token(None, tenant, user, name="ci", scope="read")
    db.session.commit()
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {issued.secret}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["email"] == user.email
    assert client.get("/api/v1/me").status_code == 401
    assert usage.flush() == 1
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/me" in spec["paths"]
    assert client.get("/api/v1/docs").status_code == 200
