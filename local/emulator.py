"""AWS on 127.0.0.1: moto's server in-process, with the product's table, buckets, Lambda functions and workflow.

Resources come from the definitions the CDK stack uses (``rpm_billing.db.schema``, the workflow ASL rendered by
``evaluate.workflow``). Lambda functions are registered in moto so that Step Functions and asynchronous invokes
reach them; moto's Lambda backend is patched to run the real handlers in this process.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import traceback
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

from local.functions import (
    EXPORT_WORKER_FUNCTION,
    RUNTIME,
    WORKFLOW_FUNCTIONS,
    FakeContext,
    available_workers,
    drop_metrics,
    module_exists,
    resolve,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
STATE_MACHINE_NAME = "rpm-billing-monthly-evaluation"
LAMBDA_ROLE = "rpm-billing-local-lambda"


@dataclass(frozen=True)
class Resources:
    """Names of the emulated resources; also the Lambda environment of the in-process handlers."""

    table_name: str = "rpm-billing-local"
    documents_bucket: str = "rpm-billing-documents-local"
    exports_bucket: str = "rpm-billing-exports-local"
    work_bucket: str = "rpm-billing-work-local"
    state_machine_arn: str = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
    export_worker_function: str = EXPORT_WORKER_FUNCTION

    def environment(self) -> dict[str, str]:
        """The environment variables the functions read (``rpm_billing.settings``)."""
        return {
            "TABLE_NAME": self.table_name,
            "DOCUMENTS_BUCKET": self.documents_bucket,
            "EXPORTS_BUCKET": self.exports_bucket,
            "WORK_BUCKET": self.work_bucket,
            "STATE_MACHINE_ARN": self.state_machine_arn,
            "EXPORT_WORKER_FUNCTION": self.export_worker_function,
        }


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def configure_process(endpoint_url: str, resources: Resources, log_level: str = "WARNING") -> None:
    """Point this process's AWS SDK at the emulator and give the handlers their Lambda environment.

    Must run before any client is created; cached clients and settings are dropped.
    """
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": log_level,
            "POWERTOOLS_SERVICE_NAME": "rpm-billing",
            **resources.environment(),
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    from rpm_billing.db.client import reset_clients
    from rpm_billing.settings import reset_settings

    reset_settings()
    reset_clients()
    from rpm_billing.observability import logger

    logger.setLevel(log_level)


# In-process Lambda ------------------------------------------------------------------------------------------

_function_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_async_threads: list[threading.Thread] = []


def _lock_for(function_name: str) -> threading.Lock:
    with _locks_guard:
        return _function_locks.setdefault(function_name, threading.Lock())


def run_function(handler: str, function_name: str, payload: Any) -> Any:
    """Run a handler as one Lambda container would: one event at a time per function."""
    with _lock_for(function_name):
        try:
            return resolve(handler)(payload, FakeContext(function_name, str(uuid.uuid4()), timeout_ms=900_000))
        finally:
            drop_metrics()


def _patched_invoke(
    self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> bytes | None:
    fn = self.get_function(function_name, qualifier)
    name, handler = fn.function_name, fn.handler
    raw = body.decode() if isinstance(body, bytes) else body
    payload = json.loads(raw) if raw else {}
    if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
        thread = threading.Thread(target=_run_async, args=(handler, name, payload), name=f"lambda-{name}", daemon=True)
        _async_threads.append(thread)
        thread.start()
        return b""
    try:
        return json.dumps(run_function(handler, name, payload), default=str).encode()
    except Exception as exc:  # the emulated Lambda reports a function error, as AWS does
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorMessage": type(exc).__name__, "errorType": type(exc).__name__}).encode()


def _run_async(handler: str, function_name: str, payload: Any) -> None:
    try:
        run_function(handler, function_name, payload)
    except Exception as exc:  # an async invoke has no caller; report it where the developer sees it
        from rpm_billing.observability import logger

        where = traceback.extract_tb(exc.__traceback__)[-1]
        logger.error("async invoke failed", function=function_name, error_type=type(exc).__name__, line=where.lineno)


def wait_for_async(timeout: float = 30.0) -> None:
    """Wait for asynchronous invocations started so far (tests, clean shutdown)."""
    for thread in list(_async_threads):
        thread.join(timeout)


class _TransactionSnapshots:
    """Stands in for ``copy`` inside moto's DynamoDB models: O(items named) rollback for transactions.

    moto deep-copies the whole table for every item of a ``TransactWriteItems`` (to roll back on failure), which
    makes each transaction cost several copies of the table. A transaction only changes the items it names, so
    the wrapper saves those items before it runs and puts them back if it fails; moto's own "snapshot" is then
    the live table itself, and its rollback (assigning that snapshot back) changes nothing.
    """

    def __init__(self) -> None:
        import copy

        self._copy = copy
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._copy, name)

    def deepcopy(self, obj: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(self._local, "active", False) and isinstance(obj, Table):
            return obj
        return self._copy.deepcopy(obj, memo)

    def _save(self, backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
        """``(table, hash, range, deep copy of the item or None)`` for every item the transaction names."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        saved = []
        for entry in transact_items:
            operation = next(iter(entry.values()))
            table = backend.tables.get(operation.get("TableName"))
            key = operation.get("Key") or operation.get("Item") or {}
            if table is None or table.hash_key_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = None
            if table.range_key_attr:
                if table.range_key_attr not in key:
                    continue
                range_value = DynamoType(key[table.range_key_attr])
                current = table.items[hash_value].get(range_value) if hash_value in table.items else None
            else:
                current = table.items.get(hash_value)
            saved.append((table, hash_value, range_value, self._copy.deepcopy(current)))
        return saved

    @staticmethod
    def _restore(saved: list[tuple[Any, Any, Any, Any]]) -> None:
        for table, hash_value, range_value, item in reversed(saved):
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            elif item is None:
                table.items[hash_value].pop(range_value, None)
                if not table.items[hash_value]:
                    table.items.pop(hash_value, None)
            else:
                table.items[hash_value][range_value] = item

    def wrap(self, original: Any) -> Any:
        def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> Any:
            saved = self._save(backend, transact_items)
            self._local.active = True
            try:
                return original(backend, transact_items)
            except Exception:
                self._restore(saved)
                raise
            finally:
                self._local.active = False

        transact_write_items._fast = True  # type: ignore[attr-defined]
        return transact_write_items


def cheap_transaction_snapshots() -> None:
    """Make moto's ``TransactWriteItems`` copy only the items it names for its rollback (idempotent)."""
    import moto.dynamodb.models as dynamodb_models

    backend_class = dynamodb_models.DynamoDBBackend
    if not getattr(backend_class.transact_write_items, "_fast", False):
        snapshots = _TransactionSnapshots()
        dynamodb_models.copy = snapshots  # type: ignore[assignment]
        backend_class.transact_write_items = snapshots.wrap(backend_class.transact_write_items)  # type: ignore[method-assign]


def patch_moto() -> None:
    """Make moto run the real handlers in-process, and make its DynamoDB atomic across server threads."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.dynamodb.responses import DynamoHandler

    LambdaSimpleBackend.invoke = _patched_invoke  # type: ignore[method-assign,assignment]
    cheap_transaction_snapshots()
    if not getattr(DynamoHandler.call_action, "_serialised", False):
        original, lock = DynamoHandler.call_action, threading.RLock()

        def serialised(self: Any) -> Any:
            # moto does not make a conditional write atomic against a concurrent request; DynamoDB does.
            with lock:
                return original(self)

        serialised._serialised = True  # type: ignore[attr-defined]
        DynamoHandler.call_action = serialised  # type: ignore[method-assign]


# The emulator -----------------------------------------------------------------------------------------------


def _tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "local stack: the handler runs in-process\n")
    return buffer.getvalue()


@dataclass
class Emulator:
    """moto on 127.0.0.1 (or an endpoint already running) with the product's resources."""

    endpoint_url: str | None = None
    port: int = 0
    resources: Resources = field(default_factory=Resources)
    log_level: str = "WARNING"
    _server: Any = None

    def start(self) -> str:
        """Start (or attach to) the emulator, configure this process, create every resource; return the URL."""
        if self.endpoint_url is None:
            import logging

            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per emulator request otherwise

            self.port = self.port or free_port()
            os.environ["MOTO_PORT"] = str(self.port)  # the workflow interpreter calls Lambda there
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.start()
            self.endpoint_url = f"http://127.0.0.1:{self.port}"
        patch_moto()
        configure_process(self.endpoint_url, self.resources, self.log_level)
        self._configure_moto()
        self.create_resources()
        return self.endpoint_url

    def stop(self) -> None:
        """Stop the in-process emulator (an external one is left alone)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _configure_moto(self) -> None:
        config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/config",
            data=json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def create_resources(self) -> None:
        """Create the table, buckets, Lambda functions and the workflow (idempotent)."""
        import boto3

        from rpm_billing.db.schema import TTL_ATTRIBUTE, create_table_request

        r = self.resources
        ddb = boto3.client("dynamodb")
        if r.table_name not in ddb.list_tables()["TableNames"]:
            ddb.create_table(**create_table_request(r.table_name))
            ddb.update_time_to_live(
                TableName=r.table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )
        s3 = boto3.client("s3")
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for bucket in (r.documents_bucket, r.exports_bucket, r.work_bucket):
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket)
        role_arn = self._lambda_role()
        arns = self._create_functions(role_arn)
        self._create_workflow(role_arn, arns)

    def _lambda_role(self) -> str:
        import boto3

        iam = boto3.client("iam")
        try:
            return str(iam.get_role(RoleName=LAMBDA_ROLE)["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
            created = iam.create_role(RoleName=LAMBDA_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
            return str(created["Role"]["Arn"])

    def _create_functions(self, role_arn: str) -> dict[str, str]:
        import boto3

        client = boto3.client("lambda")
        arns = {}
        code = _tiny_zip()
        for name, handler in available_workers().items():
            try:
                arns[name] = client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
                continue
            except client.exceptions.ResourceNotFoundException:
                pass
            created = client.create_function(
                FunctionName=name,
                Runtime=RUNTIME,
                Role=role_arn,
                Handler=handler,
                Code={"ZipFile": code},
                Timeout=900,
                Environment={"Variables": self.resources.environment()},
            )
            arns[name] = created["FunctionArn"]
        return arns

    def _create_workflow(self, role_arn: str, arns: dict[str, str]) -> None:
        if not module_exists("evaluate.workflow") or not all(fn in arns for fn in WORKFLOW_FUNCTIONS.values()):
            return
        import boto3

        from evaluate.workflow import render_definition

        values = {placeholder: arns[fn] for placeholder, fn in WORKFLOW_FUNCTIONS.items()}
        values["WorkBucket"] = self.resources.work_bucket
        definition = render_definition(values)
        sfn = boto3.client("stepfunctions")
        machines = {m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
        if self.resources.state_machine_arn in machines:
            sfn.update_state_machine(stateMachineArn=self.resources.state_machine_arn, definition=definition)
            return
        sfn.create_state_machine(name=STATE_MACHINE_NAME, definition=definition, roleArn=role_arn, type="STANDARD")

    @property
    def has_workflow(self) -> bool:
        """Whether the evaluation workflow exists in the emulator."""
        import boto3

        machines = boto3.client("stepfunctions").list_state_machines()["stateMachines"]
        return any(m["stateMachineArn"] == self.resources.state_machine_arn for m in machines)
