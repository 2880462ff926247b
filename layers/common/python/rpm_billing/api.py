"""The HTTP application wrapper every API function uses.

``ApiApp`` wraps Powertools' ``APIGatewayRestResolver`` (built lazily, once per container) and adds what the
resolver does not do in the order the contract needs:

1. authentication: a request without verified claims is a 401;
2. authorisation by route, before the body is validated: every route declares the ``Action`` it needs
   (there is no way to register a route without one), so a role that may not call it gets 403 whatever
   it sends;
3. deployment scope: a ``{deployment_id}`` outside the caller's scope answers exactly like a missing one;
4. one error shape, ``{"error": {"code", "message", "fields"}}``, that never echoes submitted values;
5. security headers on every response.

Route functions read the caller with ``current_principal()`` and the raw request with ``current_event()``.
"""

from __future__ import annotations

import contextvars
import json
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin, get_type_hints

from rpm_billing.auth import Action, Principal, principal_from_event
from rpm_billing.errors import DomainError, FieldProblem
from rpm_billing.observability import logger, start_tracing

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

API_VERSION = "1.0.0"

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
}

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
_event: contextvars.ContextVar[APIGatewayProxyEvent | None] = contextvars.ContextVar("event", default=None)

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["path", "problem"],
                        "properties": {"path": {"type": "string"}, "problem": {"type": "string"}},
                    },
                },
            },
        }
    },
}
_ERROR_STATUSES = {
    "400": "Malformed request",
    "401": "Missing or invalid token",
    "403": "The caller's role may not do this",
    "404": "Not found, or not in the caller's scope",
    "409": "Conflict with the current state",
    "412": "Stale version",
    "413": "Payload too large",
    "415": "Unsupported media type",
    "422": "Invalid input; each field names what is wrong",
    "428": "A required precondition header is missing",
    "429": "Quota or rate exceeded",
    "503": "Temporarily unavailable; retry",
}


def current_principal() -> Principal:
    """The verified caller of the request being handled."""
    principal = _principal.get()
    if principal is None:  # pragma: no cover - handle() always sets it before routes run
        raise RuntimeError("no principal: route called outside ApiApp.handle")
    return principal


def current_event() -> APIGatewayProxyEvent:
    """The API Gateway event being handled (headers, raw body, request context)."""
    event = _event.get()
    if event is None:  # pragma: no cover - handle() always sets it before routes run
        raise RuntimeError("no event: route called outside ApiApp.handle")
    return event


def header(name: str) -> str | None:
    """A request header, matched case-insensitively (HTTP/2 clients send lower case)."""
    headers = current_event().headers or {}
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def raw_body() -> bytes:
    """The request body as sent (base64-decoded when API Gateway encoded it)."""
    event = current_event()
    body = event.body or ""
    if event.is_base64_encoded:
        import base64

        return base64.b64decode(body)
    return body.encode("utf-8", errors="surrogateescape")


def request_id() -> str:
    """API Gateway's request id, for audit records and log correlation."""
    context = current_event().raw_event.get("requestContext") or {}
    return str(context.get("requestId") or "local")


def error_body(status: int, code: str, message: str, fields: list[FieldProblem] | None = None) -> dict[str, Any]:
    """A REST proxy response in the contract's error shape."""
    payload = {
        "error": {
            "code": code,
            "message": message,
            "fields": [{"path": f.path, "problem": f.problem} for f in fields or []],
        }
    }
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **SECURITY_HEADERS},
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"


def _sanitise(message: str, value: Any) -> str:
    """Drop any trace of the submitted value from a validation message."""
    if isinstance(value, str | int | float) and str(value) and str(value) in message:
        return message.replace(str(value), "<value>")
    return message


def validation_fields(errors: list[dict[str, Any]]) -> list[FieldProblem]:
    """Turn pydantic/Powertools validation errors into field problems without their input values."""
    problems = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        path = ".".join(loc) or "body"
        problem = _sanitise(str(err.get("msg") or err.get("type") or "invalid"), err.get("input"))
        problems.append(FieldProblem(path, problem))
    return problems


@dataclass(frozen=True)
class RouteSpec:
    """A registered route: method, path template, the action it needs and the route function."""

    method: str
    path: str
    action: Action
    func: Callable[..., Any]
    options: dict[str, Any]

    @property
    def template(self) -> str:
        """The path in OpenAPI form (``/v1/patients/{patient_id}``); routes are written ``<patient_id>``."""
        return re.sub(r"<([^/>]+)>", r"{\1}", self.path)

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", self.template) + "/?$")

    @cached_property
    def json_body(self) -> bool:
        """Whether the route function declares a JSON body (an ``Annotated[..., Body()]`` parameter)."""
        from aws_lambda_powertools.event_handler.openapi.params import Body

        try:
            hints = get_type_hints(self.func, include_extras=True)
        except Exception:  # unresolvable annotations: Powertools could not read a body from them either
            return False
        return any(
            get_origin(hint) is Annotated and any(isinstance(meta, Body) for meta in get_args(hint)[1:])
            for name, hint in hints.items()
            if name != "return"
        )


def _is_json_media(headers: Mapping[str, Any] | None) -> bool:
    """Whether the request's Content-Type is JSON, or absent (the contract: JSON in and out)."""
    for key, value in (headers or {}).items():
        if key.lower() == "content-type":
            media = str(value or "").split(";")[0].strip().lower()
            return media in ("", "application/json")
    return True


class ApiApp:
    """A function's HTTP API: routes with declared permissions over a lazily built Powertools resolver.

    Args:
        title: Title of the function's OpenAPI document.
        description: Description of the function's OpenAPI document.
    """

    def __init__(self, title: str, description: str = "") -> None:
        self.title = title
        self.description = description
        self._specs: list[RouteSpec] = []
        self._resolver: APIGatewayRestResolver | None = None

    # Registration -----------------------------------------------------------------------------------------

    def route(self, method: str, path: str, *, allow: Action, **options: Any) -> Callable[[Callable], Callable]:
        """Register a route that needs ``allow``; ``options`` go to the resolver (summary, responses, ...)."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            if self._resolver is not None:  # pragma: no cover - programming error
                raise RuntimeError("routes must be registered before the first request")
            self._specs.append(RouteSpec(method.upper(), path, allow, func, options))
            return func

        return register

    def get(self, path: str, *, allow: Action, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("GET", path, allow=allow, **options)

    def post(self, path: str, *, allow: Action, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("POST", path, allow=allow, **options)

    def put(self, path: str, *, allow: Action, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("PUT", path, allow=allow, **options)

    def patch(self, path: str, *, allow: Action, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("PATCH", path, allow=allow, **options)

    def delete(self, path: str, *, allow: Action, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("DELETE", path, allow=allow, **options)

    @property
    def routes(self) -> list[RouteSpec]:
        """Every registered route (for the local router, the CDK methods and the route inventory test)."""
        return list(self._specs)

    def match(self, method: str, path: str) -> RouteSpec | None:
        """The route serving ``method`` on ``path``, if any."""
        for spec in self._specs:
            if spec.method == method.upper() and spec.pattern.match(path):
                return spec
        return None

    # Resolver ---------------------------------------------------------------------------------------------

    @property
    def resolver(self) -> APIGatewayRestResolver:
        """The Powertools resolver, built on first use with every route and error mapping."""
        if self._resolver is None:
            self._resolver = self._build_resolver()
        return self._resolver

    def _build_resolver(self) -> APIGatewayRestResolver:
        from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
        from aws_lambda_powertools.event_handler.exceptions import NotFoundError
        from aws_lambda_powertools.event_handler.openapi.exceptions import (
            RequestUnsupportedContentType,
            RequestValidationError,
        )
        from botocore.exceptions import ClientError

        resolver = APIGatewayRestResolver(enable_validation=True)

        def respond(status: int, code: str, message: str, fields: list[FieldProblem] | None = None) -> Response:
            built = error_body(status, code, message, fields)
            return Response(status_code=status, content_type="application/json", body=built["body"])

        @resolver.exception_handler(DomainError)
        def _domain(exc: DomainError) -> Response:
            log = logger.warning if exc.status >= 500 else logger.info
            log("request refused", status=exc.status, code=exc.code)
            return respond(exc.status, exc.code, exc.message, exc.fields)

        @resolver.exception_handler(RequestValidationError)
        def _invalid(exc: RequestValidationError) -> Response:
            fields = validation_fields(list(exc.errors()))
            logger.info("request invalid", status=422, fields=[f.path for f in fields])
            return respond(422, "invalid", "the request is invalid; see fields", fields)

        @resolver.exception_handler(RequestUnsupportedContentType)
        def _unsupported_media(exc: RequestUnsupportedContentType) -> Response:
            # A NotImplementedError to Python: without this handler the catch-all below answered 500.
            logger.info("request body media type unsupported", status=415)
            return respond(415, "unsupported_media_type", "the body must be application/json")

        @resolver.exception_handler(UnicodeDecodeError)
        def _undecodable(exc: UnicodeDecodeError) -> Response:
            logger.info("request body not utf-8", status=422)
            return respond(422, "invalid", "the body is not UTF-8 text", [FieldProblem("body", "not UTF-8")])

        @resolver.exception_handler(json.JSONDecodeError)
        def _not_json(exc: json.JSONDecodeError) -> Response:
            logger.info("request body not json", status=422)
            return respond(422, "invalid", "the body is not valid JSON", [FieldProblem("body", "not valid JSON")])

        @resolver.exception_handler(NotFoundError)
        def _no_route(exc: NotFoundError) -> Response:
            return respond(404, "not_found", "no such resource")

        @resolver.exception_handler(ClientError)
        def _aws(exc: ClientError) -> Response:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code in {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}:
                logger.warning("aws throttled", aws_code=code)
                return respond(503, "unavailable", "the service is busy; retry shortly")
            logger.error("aws error", aws_code=code, where=_where(exc))
            return respond(500, "internal_error", "internal error")

        @resolver.exception_handler(Exception)
        def _unexpected(exc: Exception) -> Response:
            # The exception text may hold request values (pydantic errors do): log its type and place only.
            logger.error("unhandled error", error_type=type(exc).__name__, where=_where(exc))
            return respond(500, "internal_error", "internal error")

        for spec in self._specs:
            resolver.route(spec.path, spec.method, **spec.options)(spec.func)
        return resolver

    # Entry point ------------------------------------------------------------------------------------------

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Authenticate, authorise, scope and resolve one API Gateway REST proxy event."""
        start_tracing()
        method = str(event.get("httpMethod") or "").upper()
        path = str(event.get("path") or "/")
        principal = principal_from_event(event)
        if principal is None:
            logger.info("request unauthenticated", status=401)
            return error_body(401, "unauthorized", "a valid token is required")
        spec = self.match(method, path)
        try:
            refused = self._refusal(spec, principal, event, path)
            if refused is not None:
                return refused
            response = self._resolve(event, context, principal)
        finally:
            # Keys of this request never reach the next one's log lines, whatever way it ended.
            logger.remove_keys(["user_id", "org_id", "route"])
        headers = response.setdefault("headers", {}) or {}
        headers.update(SECURITY_HEADERS)
        response["headers"] = headers
        multi = response.get("multiValueHeaders")
        if isinstance(multi, dict):
            for key, value in SECURITY_HEADERS.items():
                multi[key] = [value]
        return response

    def _refusal(
        self, spec: RouteSpec | None, principal: Principal, event: dict[str, Any], path: str
    ) -> dict[str, Any] | None:
        """The 403, 404 or 415 of a matched route, decided before the body is read (``None``: go on)."""
        if spec is None:
            return None
        logger.append_keys(user_id=principal.user_id, org_id=principal.org_id, route=f"{spec.method} {spec.template}")
        if not principal.may(spec.action):
            logger.info("audit access denied", action=spec.action.value, role=principal.primary_role, status=403)
            return error_body(403, "forbidden", "your role may not do this")
        deployment_id = (event.get("pathParameters") or {}).get("deployment_id") or _path_param(spec, path)
        if deployment_id and not principal.sees_deployment(deployment_id):
            return error_body(404, "not_found", "deployment not found")
        if spec.json_body and not _is_json_media(event.get("headers")):
            # Powertools would parse form or multipart bodies, and a multipart type without a boundary
            # escaped as a ValueError (a 500); JSON routes take JSON only.
            logger.info("request body media type unsupported", status=415)
            return error_body(415, "unsupported_media_type", "the body must be application/json")
        return None

    def _resolve(self, event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        """Let Powertools validate and route the event, with the caller and the event in context."""
        from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

        principal_token = _principal.set(principal)
        event_token = _event.set(APIGatewayProxyEvent(event))
        try:
            return self.resolver.resolve(event, context)
        finally:
            _principal.reset(principal_token)
            _event.reset(event_token)

    # OpenAPI ----------------------------------------------------------------------------------------------

    def openapi_schema(self) -> dict[str, Any]:
        """The function's OpenAPI 3.1 document, with the contract's error shape on every operation."""
        schema: dict[str, Any] = json.loads(
            self.resolver.get_openapi_json_schema(title=self.title, version=API_VERSION, description=self.description)
        )
        document_errors(schema)
        return schema


def _path_param(spec: RouteSpec, path: str) -> str | None:
    template = spec.template.strip("/").split("/")
    actual = path.strip("/").split("/")
    for part, value in zip(template, actual, strict=False):
        if part == "{deployment_id}":
            return value
    return None


def document_errors(schema: dict[str, Any]) -> None:
    """Replace Powertools' validation-error schema with the contract's error shape on every operation."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    # Powertools' own validation shapes; ResponseValidationError refers to ValidationError, so it goes too
    # (leaving it would leave a dangling $ref and an invalid document).
    for key in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        components.pop(key, None)
    schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    schema["security"] = [{"bearer": []}]
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in _ERROR_STATUSES.items():
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
