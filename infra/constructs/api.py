"""The REST API: Cognito user pool and groups, stage with logs/throttles/X-Ray, methods from the route tables, WAF."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra import constants as c
from infra.constructs.functions import ROOT, encrypted_log_group

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Route:
    """One API route as the function's resolver declares it."""

    function_id: str
    method: str
    template: str


def load_routes(*, strict: bool) -> tuple[list[Route], dict[str, str]]:
    """Read the route tables of the API function modules.

    Args:
        strict: Raise when a module exists but cannot be imported (a synth for deployment); otherwise report it.

    Returns:
        The routes, and ``{module: error}`` for existing modules that did not import.
    """
    routes: list[Route] = []
    broken: dict[str, str] = {}
    for function_id, module_name in c.API_MODULES.items():
        if not (ROOT / "functions" / Path(*module_name.split("."))).with_suffix(".py").exists():
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if strict:
                raise
            broken[module_name] = f"{type(exc).__name__}: {exc}"
            continue
        routes += [Route(function_id, spec.method.upper(), spec.template) for spec in module.app.routes]
    return routes, broken


class Api(Construct):
    """Users, the REST API over the API functions and its web ACL.

    Args:
        scope: Parent construct.
        construct_id: Id of this construct.
        key: The stack's key (log groups).
        functions: The API functions by id (``constants.API_MODULES`` keys).
        routes: The routes to serve.
        cors_origins: Browser origins allowed by the CORS preflight.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        functions: dict[str, lambda_.IFunction],
        routes: list[Route],
        cors_origins: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._users()

        access_logs = encrypted_log_group(self, "AccessLogs", key)
        cloudwatch_role = iam.Role(
            self,
            "CloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="Lets API Gateway write execution logs of the billing API",
        )
        iam.ManagedPolicy(
            self,
            "CloudWatchPolicy",
            description="API Gateway execution logging (account setting)",
            roles=[cloudwatch_role],
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:DescribeLogGroups",
                        "logs:DescribeLogStreams",
                        "logs:PutLogEvents",
                    ],
                    resources=[
                        stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="API-Gateway-Execution-Logs_*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                )
            ],
        )
        account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=cloudwatch_role.role_arn)
        certificate = apigw.CfnClientCertificate(self, "ClientCertificate", description="Billing API backend")

        method_options: dict[str, apigw.MethodDeploymentOptions] = {}
        for route in routes:
            if route.template.startswith("/v1/exports") and route.method == "POST":
                rate, burst = c.EXPORT_THROTTLE_RATE, c.EXPORT_THROTTLE_BURST
            elif route.method in WRITE_METHODS:
                rate, burst = c.WRITE_THROTTLE_RATE, c.WRITE_THROTTLE_BURST
            else:
                continue
            method_options[f"{route.template}/{route.method}"] = apigw.MethodDeploymentOptions(
                throttling_rate_limit=rate, throttling_burst_limit=burst
            )

        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{c.SERVICE_NAME}-api",
            description="RPM/RTM billing API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=c.STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                caching_enabled=False,
                throttling_rate_limit=c.THROTTLE_RATE,
                throttling_burst_limit=c.THROTTLE_BURST,
                client_certificate_id=certificate.attr_client_certificate_id,
                method_options=method_options,
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=cors_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                max_age=Duration.minutes(10),
            ),
        )
        self.rest_api.deployment_stage.node.add_dependency(account)
        encrypted_log_group(
            self,
            "ExecutionLogs",
            key,
            f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{c.STAGE_NAME}",
        )

        authorizer = apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[self.user_pool])
        validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        integrations = {
            fid: apigw.LambdaIntegration(fn, proxy=True, allow_test_invoke=False) for fid, fn in functions.items()
        }
        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for route in routes:
            resource = self.rest_api.root.resource_for_path(route.template)
            self.methods[(route.method, route.template)] = resource.add_method(
                route.method,
                integrations[route.function_id],
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
                request_validator=validator,
            )
        self._firewall(key)

    def _users(self) -> None:
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            user_pool_name=f"{c.SERVICE_NAME}-users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=c.PASSWORD_MIN_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            custom_attributes={
                "org_id": cognito.StringAttribute(min_len=1, max_len=64, mutable=True),
                "deployment_ids": cognito.StringAttribute(max_len=2048, mutable=True),
                "clinical_role": cognito.StringAttribute(max_len=64, mutable=True),
            },
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.client = self.user_pool.add_client(
            "PortalClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            access_token_validity=Duration.minutes(c.TOKEN_VALIDITY_MINUTES),
            id_token_validity=Duration.minutes(c.TOKEN_VALIDITY_MINUTES),
            refresh_token_validity=Duration.hours(c.REFRESH_TOKEN_VALIDITY_HOURS),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            # Tenant scope comes from these claims: users may read them but never write them.
            write_attributes=cognito.ClientAttributes().with_standard_attributes(fullname=True),
        )
        for precedence, group in enumerate(c.USER_GROUPS):
            cognito.CfnUserPoolGroup(
                self,
                f"Group{group}",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=group,
                precedence=precedence,
                description=f"{group} role of the billing module",
            )

    def _firewall(self, key: kms.IKey) -> None:
        stack = Stack.of(self)

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
            )

        def managed(priority: int, name: str, overrides: list[str] | None = None) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in overrides or []
                        ]
                        or None,
                    )
                ),
                visibility_config=visibility(name),
            )

        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("rpm-billing-api"),
            rules=[
                # Limitation: CSV list uploads can exceed the group's 8 KB body limit, so that rule only counts.
                managed(0, "AWSManagedRulesCommonRuleSet", ["SizeRestrictions_BODY"]),
                managed(1, "AWSManagedRulesKnownBadInputsRuleSet"),
                managed(2, "AWSManagedRulesAmazonIpReputationList"),
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=3,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=c.WAF_RATE_LIMIT_PER_5_MIN, aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=visibility("RateLimitPerIp"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.rest_api.deployment_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
        waf_logs = encrypted_log_group(self, "WafLogs", key, f"aws-waf-logs-{c.SERVICE_NAME}")
        logging = wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=waf_logs.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": "authorization"})
            ],
        )
        logging.node.add_dependency(waf_logs)
