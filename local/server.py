"""The local API Gateway: HTTP on 127.0.0.1 turned into REST proxy events for the owning function's handler.

As in AWS: a request without a valid (development) token is a 401 before any function runs; the verified claims
become ``requestContext.authorizer.claims``; each function handles one event at a time.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from local.events import rest_event
from local.functions import ApiFunction, FakeContext
from local.tokens import bearer_claims

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
}
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


def error_response(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """A response in the contract's error shape."""
    body = json.dumps({"error": {"code": code, "message": message, "fields": []}}).encode()
    return status, {"Content-Type": "application/json", **SECURITY_HEADERS}, body


def path_parameters(template: str, path: str) -> dict[str, str]:
    """Extract ``{name}`` parameters of an OpenAPI path template from a concrete path."""
    names = re.findall(r"\{([^/}]+)\}", template)
    pattern = "^" + re.sub(r"\{[^/}]+\}", "([^/]+)", template) + "/?$"
    match = re.match(pattern, path)
    return dict(zip(names, match.groups(), strict=True)) if match else {}


def merge_openapi(documents: list[dict[str, Any]], server_url: str | None = None) -> dict[str, Any]:
    """Merge the functions' OpenAPI documents: paths and components; clashing schema names get a prefix."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "RPM/RTM billing API (local stack)", "version": "1.0.0"},
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
    if documents:
        merged["openapi"] = documents[0].get("openapi", "3.1.0")
    if server_url:
        merged["servers"] = [{"url": server_url}]
    schemas = merged["components"]["schemas"]
    for index, document in enumerate(documents):
        own = (document.get("components") or {}).get("schemas") or {}
        renames = {
            name: f"F{index}{name}" for name, schema in own.items() if name in schemas and schemas[name] != schema
        }
        text = json.dumps(document)
        for old, new in renames.items():
            text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
        document = json.loads(text)
        for name, schema in ((document.get("components") or {}).get("schemas") or {}).items():
            schemas[renames.get(name, name)] = schema
        for path, operations in (document.get("paths") or {}).items():
            merged["paths"].setdefault(path, {}).update(operations)
    return merged


class Gateway:
    """Routes requests to the functions and builds their events."""

    def __init__(self, functions: list[ApiFunction], skipped: dict[str, str] | None = None) -> None:
        self.functions = functions
        self.skipped = dict(skipped or {})
        self.ready = threading.Event()
        self._openapi: dict[str, Any] | None = None
        self._openapi_lock = threading.Lock()
        self.base_url = ""

    def openapi(self) -> dict[str, Any]:
        """The merged OpenAPI document (built once)."""
        with self._openapi_lock:
            if self._openapi is None:
                documents = []
                for function in self.functions:
                    with function.lock:
                        documents.append(function.app.openapi_schema())
                self._openapi = merge_openapi(documents, self.base_url or None)
            return self._openapi

    def route(self, method: str, path: str) -> tuple[ApiFunction | None, Any, list[str]]:
        """The function and route serving the request, or the methods the path allows."""
        allowed: list[str] = []
        for function in self.functions:
            spec = function.app.match(method, path)
            if spec is not None:
                return function, spec, []
            allowed += [s.method for s in function.app.routes if s.pattern.match(path)]
        return None, None, sorted(set(allowed))

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str] | list[tuple[str, str]], bytes]:
        """Serve one request; returns status, headers and body."""
        split = urlsplit(target)
        path = split.path or "/"
        if method in ("GET", "HEAD") and path == "/health":
            if not self.ready.is_set():
                return error_response(503, "unavailable", "the local stack is starting")
            status = {"status": "ok", "functions": [f.name for f in self.functions], "skipped": self.skipped}
            return 200, {"Content-Type": "application/json", **SECURITY_HEADERS}, json.dumps(status).encode()
        if method in ("GET", "HEAD") and path == "/openapi.json":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.openapi()).encode()
        lower = {k.lower(): v for k, v in headers.items()}
        claims = bearer_claims(lower.get("authorization"))
        if claims is None:
            return error_response(401, "unauthorized", "a valid token is required")
        function, spec, allowed = self.route(method, path)
        if function is None:
            if allowed:
                status, hdrs, payload = error_response(405, "method_not_allowed", "method not allowed on this path")
                return status, {**hdrs, "Allow": ", ".join(allowed)}, payload
            return error_response(404, "not_found", "no such resource")
        event = rest_event(
            method,
            path,
            body=body if body else None,
            headers=headers,
            query=split.query,
            claims=claims,
            resource=spec.template,
            path_parameters=path_parameters(spec.template, path) or None,
        )
        context = FakeContext(f"rpm-billing-{function.name}", event["requestContext"]["requestId"])
        try:
            response = function.invoke(event, context)
        except Exception:  # API Gateway answers 502 when the function itself crashes
            return error_response(502, "bad_gateway", "the function failed")
        return self._http_response(response)

    @staticmethod
    def _http_response(response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        pairs: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for key, values in (response.get("multiValueHeaders") or {}).items():
            names[key.lower()] = key
            pairs.setdefault(key.lower(), []).extend(str(v) for v in values)
        for key, value in (response.get("headers") or {}).items():
            if key.lower() not in pairs:
                names[key.lower()] = key
                pairs[key.lower()] = [str(value)]
        raw = response.get("body") or ""
        payload = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode()
        flat = [(names[key], value) for key, values in pairs.items() for value in values]
        return int(response.get("statusCode") or 502), flat, payload


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY each answer on a kept-alive connection waited
    # for the client's delayed ACK (about 40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the handlers log what matters
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(*error_response(413, "payload_too_large", "the body exceeds 10 MB"))
            return
        body = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        try:
            status, out_headers, payload = self.server.gateway.handle(self.command, self.path, headers, body)
        except Exception:
            status, out_headers, payload = error_response(502, "bad_gateway", "the local gateway failed")
        self._send(status, out_headers, payload)

    def _send(self, status: int, headers: dict[str, str] | list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        items = headers.items() if isinstance(headers, dict) else headers
        seen = set()
        for key, value in items:
            if key.lower() in ("content-length", "transfer-encoding", "connection"):
                continue
            seen.add(key.lower())
            self.send_header(key, value)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        super().__init__(address, _Handler)
        self.gateway = gateway


class ApiServer:
    """The HTTP server in a background thread."""

    def __init__(self, gateway: Gateway, port: int = 8080, host: str = "127.0.0.1") -> None:
        self.gateway = gateway
        self._httpd = _Server((host, port), gateway)
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://{host}:{self.port}"
        gateway.base_url = self.url
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-api", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
