"""JSON API infrastructure for every domain: spectree validation and OpenAPI 3.1, problem+json errors,
415 for non-JSON bodies, consistent pagination, and the OpenAPI document and docs page under /api/v1."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import get_args

import spectree.plugins.flask_plugin
from flask import Blueprint, Flask, current_app, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from spectree import SecurityScheme, SpecTree
from spectree.models import SecuritySchemeData

from app.core.errors import PROBLEM_JSON, DomainError, NotFound, ValidationFailed, render_error
from app.core.fieldadapters import refused_field
from app.core.http import register_api_page
from app.core.inputs import BODILESS, ID_MAX, InvalidCharacters, unstorable_field, unstorable_json, unstorable_path
from app.core.ratelimit import limiter
from app.core.request_state import state
from app.extensions import csrf

PREFIX = "/api/v1"


class StrictModel(BaseModel):
    """Request models refuse unknown fields and coerce nothing, with one exception JSON itself asks for: it has
    one number type, and JSON Schema counts `3.0` as the integer 3, so an integral number is taken for an
    integer field (`3.5` is still refused, and so is `"3"`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _json_integers(cls, value, info: ValidationInfo):
        if isinstance(value, float) and value.is_integer() and _takes_int(cls.model_fields[info.field_name]):
            return int(value)
        return value


def _takes_int(field: FieldInfo) -> bool:
    annotation = field.annotation
    return annotation is int or int in get_args(annotation)


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the API returns them."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None


class PageQuery(StrictModel):
    """`?page=&per_page=` on every list."""

    model_config = ConfigDict(extra="forbid", strict=False)  # query strings are text; numbers are parsed
    page: int = Field(1, ge=1, le=100_000)
    per_page: int = Field(25, ge=1, le=100)


# What every bearer-authenticated route may answer besides its own responses.
AUTH_ERRORS = {"HTTP_401": Problem, "HTTP_403": Problem, "HTTP_429": Problem}


class RequestInvalid(ValidationFailed):
    code = "request_invalid"
    title = _l("The request body or query does not match the schema.")


def _validation_hook(req, resp, req_validation_error, instance, model_adapter=None):
    if req_validation_error is not None:
        raw = req_validation_error.errors()
        refused = [refused_field(e) for e in raw]  # (field, message) where a field's own check said no
        errors = [{"loc": list(e.get("loc", ())), "msg": r[1] if r else e.get("msg", ""), "type": e.get("type", "")}
                  for e, r in zip(raw, refused, strict=True)]
        body = req.get_json(silent=True) if req.mimetype == "application/json" else None
        if refused and all(r and isinstance(body, dict) and r[0] in body for r in refused):
            # Body values refused by their field checks (app.core.fields) get the problem the service gives for
            # the same value (`validation_failed` naming the field), whichever of the two refused it.
            raise ValidationFailed(refused[0][1], field=refused[0][0], errors=errors)
        raise RequestInvalid(errors[0]["msg"] if errors else None, errors=errors)


#: functions that complete the document's schemas with what is known only once every domain is loaded
#: (a catalogue's names as an enum, say); each takes `components.schemas` and edits it in place
_DOCUMENT_HOOKS: list = []


def document_hook(hook):
    """Register `hook(schemas)`, run on the OpenAPI document's component schemas when it is generated."""
    if hook not in _DOCUMENT_HOOKS:
        _DOCUMENT_HOOKS.append(hook)
    return hook


def schema_property(schemas: dict, model: str, name: str) -> dict:
    """The (string branch of the) schema of property `name` of the component named after pydantic `model`."""
    found = next(schema for key, schema in schemas.items() if key.split(".")[0] == model)
    prop = found["properties"][name]
    return next((branch for branch in prop.get("anyOf", []) if branch.get("type") == "string"), prop)


class ApiSpec(SpecTree):
    """spectree, with every error documented as what the API sends: an RFC 9457 problem document under
    `application/problem+json` (spectree documents every response as `application/json`, and its own
    validation-error shape for 422, which the API never sends: the `before` hook turns it into a problem)."""

    def _generate_spec(self) -> dict:
        document = super()._generate_spec()
        problem = {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{self.naming_strategy(Problem)}"}}}
        schemas = document.get("components", {}).get("schemas", {})
        for operations in document["paths"].values():
            for method, operation in operations.items():
                body = operation.get("requestBody")
                if body is not None:
                    # A body whose every field has a default may be left out: the API takes no body as `{}` (unless
                    # it must name at least one field, as a PATCH does).
                    ref = body["content"]["application/json"]["schema"].get("$ref", "")
                    model = schemas.get(ref.rsplit("/", 1)[-1], {})
                    body["required"] = bool(model.get("required") or model.get("minProperties"))
                responses = operation.setdefault("responses", {})
                for status, response in responses.items():
                    if int(status) >= 400 and "content" in response:
                        response["content"] = problem
                if method in {"post", "put", "patch"}:  # check_body() refuses a body that is not JSON
                    responses.setdefault("400", {"description": "Bad Request: the body is not valid JSON",
                                                 "content": problem})
                    responses.setdefault("415", {"description": "Unsupported Media Type: send application/json",
                                                 "content": problem})
        for hook in _DOCUMENT_HOOKS:
            hook(schemas)
        return document


class FlaskPlugin(spectree.plugins.flask_plugin.FlaskPlugin):
    """spectree's Flask plugin, minus the work of validating a request that has no model to validate against
    (a GET with no query model: spectree would still copy every header and cookie into dicts), and minus its
    response plumbing for a view declared with `skip_validation=True` that returns its response model: the model
    validated its fields when the view built it, so it is only serialised (as spectree would)."""

    def validate(self, func, query, json, form, headers, cookies, resp, before, after, validation_error_status,
                 skip_validation, force_resp_serialize, *args, **kwargs):
        if not (skip_validation and query is None and json is None and form is None and headers is None
                and cookies is None):
            return super().validate(func, query, json, form, headers, cookies, resp, before, after,
                                    validation_error_status, skip_validation, force_resp_serialize, *args, **kwargs)
        result = func(*args, **kwargs)
        if isinstance(result, BaseModel):
            return current_app.response_class(self.model_adapter.dump_json(result), mimetype="application/json")
        return self.validate_response(result, resp, skip_validation, force_resp_serialize)[0]

    def parse_path(self, route, path_parameter_descriptions):
        # spectree knows converters by name: the app's `id` is an int converter with the id columns' range
        return super().parse_path(str(route).replace("<id:", f"<int(min=1,max={ID_MAX}):"),
                                  path_parameter_descriptions)

    def request_validation(self, request, query, json, form, headers, cookies):
        if query is None and json is None and form is None and headers is None and cookies is None:
            request.context = None
            return
        super().request_validation(request, query, json, form, headers, cookies)


spec = ApiSpec(
    "flask",
    backend=FlaskPlugin,
    title="Hubx Access API",
    version="1",
    openapi_version="3.1.0",
    mode="strict",
    path="__spectree__",  # spectree skips routes under its own path; ours live under /api/v1, served below
    page_templates={},
    validation_error_status=422,
    before=_validation_hook,
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer",
                                                                         bearer_format="hbx_p_…"))],
    security={"bearer": []},
)

def documented(**validate_kwargs):
    """Describe a view in the OpenAPI document exactly as `spec.validate(**validate_kwargs)` would, without
    spectree's request and response plumbing at run time: for a hot route that checks its own body with the same
    strict model (`parse_json`), so the document and the check cannot differ. spectree's per-request work (copying
    headers and cookies, re-reading the body, validating the response) costs more than such a route's query
    (docs/performance.md, "Invite code validation"). spectree finds a view's description by the function, walking
    `__wrapped__`: the description is moved from spectree's wrapper to the view itself."""

    def decorate(view):
        wrapper = spec.validate(**validate_kwargs)(view)
        spec._function_metadata[view] = spec._function_metadata.pop(wrapper)  # noqa: SLF001 (see the docstring)
        return view

    return decorate


def parse_json(model: type[BaseModel]):
    """The request's JSON body (already refused by `check_body` when not JSON) validated by `model`, refused as
    spectree's validation would refuse it (422 `request_invalid` or `validation_failed`, with `errors`)."""
    try:
        return model.model_validate(request.get_json(silent=True))
    except ValidationError as error:
        _validation_hook(request, None, error, None)
        raise  # the hook always raises; never reached


bp = Blueprint("api", __name__, url_prefix=PREFIX)
register_api_page(f"{PREFIX}/docs")  # the reference is read in a browser: a page, with the portal's layout


@bp.get("/openapi.json")
@limiter.exempt
def openapi():
    """The OpenAPI 3.1 document of every JSON route."""
    return current_app.json.response(spec.spec)


@bp.get("/docs")
@limiter.exempt
def docs():
    """A readable page of the API, rendered from the same document (no CDN, no script)."""
    return render_template("api/docs.html", spec=spec.spec)


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415
    title = _l("Send the body as application/json.")


class MalformedJson(DomainError):
    code = "malformed_json"
    status = 400
    title = _l("The body is not valid JSON.")


def check_body():
    """A refusal for a body that is not JSON (415) or not valid JSON (400, nested too deep included), or for
    text that cannot be stored (NUL, a lone surrogate) in a path argument (404), a query argument or a JSON
    string or key (422, `invalid_characters`); None when the request is fine.

    Called by the bearer check after authentication, so anonymous callers learn nothing but 401."""
    document = None
    if request.method not in BODILESS and (request.content_length or request.get_data(cache=True)):
        if request.mimetype != "application/json":
            return render_error(415, UnsupportedMediaType.code, str(UnsupportedMediaType.title))
        document = request.get_json(silent=True)
        if document is None:
            return render_error(400, MalformedJson.code, str(MalformedJson.title))
    if request.view_args and unstorable_path():
        return render_error(404, NotFound.code, str(NotFound.title))
    field = unstorable_field(request.args.items(multi=True)) if request.query_string else None
    if field is None and document is not None:
        field = unstorable_json(document)
    if field is not None:
        return render_error(422, InvalidCharacters.code, str(InvalidCharacters.title), field=field)
    return None


def _iso_default(value):
    if isinstance(value, date | datetime):
        return value.isoformat()
    return DefaultJSONProvider.default(value)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with datetimes in ISO 8601 as the OpenAPI document says (`format: date-time`), instead of
    Flask's default HTTP date, which no client reading the schema expects and which drops the microseconds."""

    default = staticmethod(_iso_default)


#: on every answer to a token that has an expiry, refusals included (GitHub's
#: `github-authentication-token-expiration`), so a script can warn before its token stops working
EXPIRATION_HEADER = "Hubx-Token-Expiration"


def expiration_value(credential) -> str | None:
    """A credential's expiry as the header gives it, in GitHub's format (`2027-01-01 00:00:00 UTC`); None if
    it never expires."""
    expires_at = credential.expires_at
    return None if expires_at is None else expires_at.astimezone(UTC).isoformat(" ", "seconds")[:19] + " UTC"


def add_expiration_header(response):
    """After every request: when an API request was made with a token that expires, say when (the refusals of an
    unusable token add it themselves, as no bearer is set then)."""
    bearer = state.bearer
    if bearer is not None:
        value = expiration_value(bearer.credential)
        if value is not None:
            response.headers[EXPIRATION_HEADER] = value
    return response


def register_api(app: Flask, *blueprints: Blueprint) -> None:
    """Register the API blueprints (CSRF does not apply: they take bearer tokens, not cookies)."""
    app.json = JSONProvider(app)
    app.after_request(add_expiration_header)
    for blueprint in (bp, *blueprints):
        csrf.exempt(blueprint)
        app.register_blueprint(blueprint)
