"""The static site runtime on its own (a scratch stage): the private bucket behind origin access
control, the distribution's TLS, headers, API route and SPA rewrite, the files' deployment, the
edge resources' region and the alarms."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Duration, Environment, RemovalPolicy, Stack, Stage
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from cdk_constructs.edge import EdgeDomain
from cdk_constructs.web_runtime.image import placeholder_image
from cdk_constructs.web_runtime.interface import WebRuntimeProps
from cdk_constructs.web_runtime.static_site import (
    SPA_REWRITE,
    SiteOptions,
    StaticSite,
    content_security_policy,
)
from tests.synth import scratch_app
from tests.template_queries import get_att, only, resources

SIGN_IN = "https://example-prefix.auth.eu-west-1.amazoncognito.com"
API_DOMAIN = "abc123.execute-api.eu-west-1.amazonaws.com"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
"""CloudFront's managed origin request policy id."""


@dataclass(frozen=True)
class FakeSiteApi:
    domain_name: str = API_DOMAIN
    stage_name: str = "api"


@dataclass(frozen=True)
class FakeThresholds:
    web_5xx: float = 10
    unhealthy_targets: float = 1
    web_p99_response_ms: int = 3000


@dataclass
class Built:
    site: StaticSite
    web: dict[str, Any]
    edge: dict[str, Any] | None


def build(
    tmp: Path, region: str, *, domain: bool = True, waf: bool = True, hashed: bool = False
) -> Built:
    """``hashed``: the site has a build's content-hashed files under ``assets/``."""
    source = tmp / "site"
    source.mkdir(exist_ok=True)
    for name in ("index.html", "app.js", "config.json"):
        (source / name).write_text(name)
    if hashed:
        (source / "assets").mkdir()
        (source / "assets" / "app-1a2b3c4d.js").write_text("export {};")
    app = scratch_app(tmp / "out")
    stage = Stage(app, "Env", env=Environment(account="111111111111", region=region))
    stack = Stack(stage, "Web", cross_region_references=region != "us-east-1")
    options = SiteOptions(
        source=source,
        domain=EdgeDomain("app.example.com", "Z123", "example.com") if domain else None,
        waf=waf,
    )
    site = StaticSite(stack, "Site", props=site_props(stack), options=options)
    assembly = app.synth()
    edge_stack = stage.node.try_find_child("WebEdge")
    edge = None
    if isinstance(edge_stack, Stack):
        edge = assembly.get_stack_artifact(edge_stack.artifact_id).template
        assert edge_stack.region == "us-east-1"
    return Built(site, assembly.get_stack_artifact(stack.artifact_id).template, edge)


def site_props(stack: Stack) -> WebRuntimeProps:
    """The common props as the web stack fills them for a site (the container's unused)."""
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    return WebRuntimeProps(
        name="app-env-web",
        vpc=vpc,
        public_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        app_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        image=placeholder_image(8080),
        port=8080,
        health_path="/healthz",
        cpu=256,
        memory_mib=512,
        min_instances=1,
        max_instances=1,
        environment={"apiBase": "/api", "clientId": "client-1"},
        log_retention=logs.RetentionDays.TWO_WEEKS,
        log_key=kms.Key(stack, "EnvironmentKey"),
        removal_policy=RemovalPolicy.DESTROY,
        site_api=FakeSiteApi(),
        sign_in_origins=(SIGN_IN,),
    )


@pytest.fixture(scope="module")
def away(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("away"), "eu-west-1")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("home"), "us-east-1")


def distribution_config(template: dict[str, Any]) -> dict[str, Any]:
    _, distribution = only(template, "AWS::CloudFront::Distribution")
    config: dict[str, Any] = distribution["Properties"]["DistributionConfig"]
    return config


def test_the_bucket_is_private_and_only_this_distribution_reads_it(away: Built) -> None:
    web = away.web
    bucket_id = Stack.of(away.site).get_logical_id(away.site.bucket.node.default_child)  # type: ignore[arg-type]
    bucket = web["Resources"][bucket_id]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "WebsiteConfiguration" not in bucket
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(web, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    allows = [s for s in policy if s["Effect"] == "Allow"]
    # Nobody but CloudFront reads (the other grant is CDK's auto-delete role, removal DESTROY).
    assert all(s["Principal"] not in ("*", {"AWS": "*"}) for s in allows)
    (read,) = [s for s in allows if s["Principal"] == {"Service": "cloudfront.amazonaws.com"}]
    assert read["Action"] == "s3:GetObject"
    distribution_id, _ = only(web, "AWS::CloudFront::Distribution")
    source_arn = read["Condition"]["StringEquals"]["AWS:SourceArn"]
    assert {"Ref": distribution_id} in source_arn["Fn::Join"][1]
    denies = [s for s in policy if s["Effect"] == "Deny"]
    assert [s["Condition"] for s in denies] == [
        {"Bool": {"aws:SecureTransport": "false"}},
        {"NumericLessThan": {"s3:TlsVersion": 1.2}},
    ]
    (origin,) = [o for o in distribution_config(web)["Origins"] if "S3OriginConfig" in o]
    assert "OriginAccessControlId" in origin
    _, oac = only(web, "AWS::CloudFront::OriginAccessControl")
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"


def test_the_distribution_serves_tls_1_2_http_2_and_3_and_logs(away: Built) -> None:
    config = distribution_config(away.web)
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert config["ViewerCertificate"]["SslSupportMethod"] == "sni-only"
    assert config["Aliases"] == ["app.example.com"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["HttpVersion"] == "http2and3"
    assert config["PriceClass"] == "PriceClass_100"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    # No custom error responses: they would apply to the API's behavior too.
    assert "CustomErrorResponses" not in config
    log_bucket_id = config["Logging"]["Bucket"]["Fn::GetAtt"][0]
    log_bucket = away.web["Resources"][log_bucket_id]["Properties"]
    # Standard logging (legacy) writes with an ACL: the bucket must accept them.
    assert log_bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    (rule,) = log_bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 90


def test_the_headers_policy_sets_hsts_csp_and_no_framing(away: Built) -> None:
    _, policy = only(away.web, "AWS::CloudFront::ResponseHeadersPolicy")
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": 63072000,
        "IncludeSubdomains": True,
        "Preload": True,
        "Override": True,
    }
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["connect-src"] == f"'self' {SIGN_IN}"
    assert directives["form-action"] == f"'self' {SIGN_IN}"
    assert directives["default-src"] == directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == directives["object-src"] == "'none'"
    assert csp == content_security_policy((SIGN_IN,))
    config = distribution_config(away.web)
    (api,) = config["CacheBehaviors"]
    policy_id = config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]
    assert api["ResponseHeadersPolicyId"] == policy_id


def test_the_api_route_keeps_the_path_forwards_authorization_and_caches_nothing(
    away: Built,
) -> None:
    config = distribution_config(away.web)
    (api,) = config["CacheBehaviors"]
    assert api["PathPattern"] == "/api/*"
    assert api["ViewerProtocolPolicy"] == "https-only"
    assert set(api["AllowedMethods"]) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "PATCH",
        "POST",
        "DELETE",
    }
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert "FunctionAssociations" not in api  # the SPA rewrite is the files' behavior's only
    (origin,) = [o for o in config["Origins"] if o["Id"] == api["TargetOriginId"]]
    assert origin["DomainName"] == API_DOMAIN
    assert "OriginPath" not in origin or origin["OriginPath"] == ""
    assert origin["CustomOriginConfig"] == {
        "OriginProtocolPolicy": "https-only",
        "OriginSSLProtocols": ["TLSv1.2"],
    }
    cache = away.web["Resources"][api["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
    assert (cache["MinTTL"], cache["DefaultTTL"]) == (0, 0)
    # CloudFront refuses cache-key headers in a policy whose TTLs are all 0.
    assert cache["MaxTTL"] > 0
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"] == {"HeaderBehavior": "whitelist", "Headers": ["Authorization"]}
    assert key["QueryStringsConfig"]["QueryStringBehavior"] == "all"


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/", "/index.html"),
        ("/items/3", "/index.html"),
        ("/items/", "/index.html"),
        ("/app.js", "/app.js"),
        ("/config.json", "/config.json"),
        ("/assets/logo.svg", "/assets/logo.svg"),
    ],
)
def test_the_spa_rewrite_serves_index_html_for_app_routes_only(uri: str, served: str) -> None:
    script = (
        f"{SPA_REWRITE}\n"
        f"process.stdout.write(handler({{request: {{uri: {json.dumps(uri)}}}}}).uri);"
    )
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert result.stdout == served


def test_the_rewrite_runs_on_viewer_requests_of_the_files(away: Built) -> None:
    (association,) = distribution_config(away.web)["DefaultCacheBehavior"]["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    function_id = association["FunctionARN"]["Fn::GetAtt"][0]
    function = away.web["Resources"][function_id]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["FunctionCode"] == SPA_REWRITE


def deployments(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in resources(template, "Custom::CDKBucketDeployment").items()
    }


def test_every_file_of_an_unhashed_site_is_revalidated_and_the_cache_invalidated(
    away: Built,
) -> None:
    """The reference app's files keep their names from one build to the next: each one is
    ``no-cache`` (a browser holding yesterday's app.js would run it with today's index.html)."""
    (entry,) = deployments(away.web).values()
    assert entry["SystemMetadata"]["cache-control"] == "no-cache"
    assert entry["Exclude"] == ["assets/*"]
    assert entry["Prune"] is True
    distribution_id, _ = only(away.web, "AWS::CloudFront::Distribution")
    assert entry["DistributionId"] == {"Ref": distribution_id}
    assert entry["DistributionPaths"] == ["/*"]
    function_id = entry["ServiceToken"]["Fn::GetAtt"][0]
    assert away.web["Resources"][function_id]["Properties"]["MemorySize"] == 512
    assert "LogGroup" in away.web["Resources"][function_id]["Properties"]["LoggingConfig"]


def test_hashed_assets_are_kept_a_year_and_uploaded_before_the_files_naming_them(
    tmp_path: Path,
) -> None:
    template = build(tmp_path, "us-east-1", domain=False, waf=False, hashed=True).web

    by_id = deployments(template)
    (assets_id,) = [i for i, p in by_id.items() if p.get("Include") == ["assets/*"]]
    (entry_id,) = [i for i in by_id if i != assets_id]
    assets, entry = by_id[assets_id], by_id[entry_id]
    assert assets["SystemMetadata"]["cache-control"] == "public, max-age=31536000, immutable"
    assert (assets["Exclude"], assets["Prune"]) == (["*"], False)  # earlier builds' files stay
    assert "DistributionId" not in assets
    assert entry["SystemMetadata"]["cache-control"] == "no-cache"
    assert (entry["Exclude"], entry["Prune"]) == (["assets/*"], True)
    assert assets_id in template["Resources"][entry_id]["DependsOn"]


def test_away_from_us_east_1_the_certificate_and_acl_live_in_the_edge_stack(away: Built) -> None:
    assert away.edge is not None
    assert not resources(away.web, "AWS::CertificateManager::Certificate")
    assert not resources(away.web, "AWS::WAFv2::WebACL")
    _, certificate = only(away.edge, "AWS::CertificateManager::Certificate")
    assert certificate["Properties"]["DomainName"] == "app.example.com"
    assert certificate["Properties"]["ValidationMethod"] == "DNS"
    acl_id, acl = only(away.edge, "AWS::WAFv2::WebACL")
    assert acl["Properties"]["Scope"] == "CLOUDFRONT"
    rules = {rule["Name"] for rule in acl["Properties"]["Rules"]}
    assert {"RateLimitPerIp", "AWSManagedRulesCommonRuleSet"} <= rules
    # A KMS key serves its own region: the ACL's log group gets a key of the edge stack.
    _, log_group = only(away.edge, "AWS::Logs::LogGroup")
    key_id, _ = only(away.edge, "AWS::KMS::Key")
    assert log_group["Properties"]["KmsKeyId"] == get_att(key_id, "Arn")
    config = distribution_config(away.web)
    assert config["WebACLId"]["Fn::GetStackOutput"]["Region"] == "us-east-1"
    assert config["ViewerCertificate"]["AcmCertificateArn"]["Fn::GetStackOutput"]["Region"] == (
        "us-east-1"
    )
    assert acl_id in json.dumps(config["WebACLId"])


def test_in_us_east_1_the_certificate_and_acl_stay_in_the_stack(home: Built) -> None:
    assert home.edge is None
    cert_id, _ = only(home.web, "AWS::CertificateManager::Certificate")
    acl_id, acl = only(home.web, "AWS::WAFv2::WebACL")
    assert acl["Properties"]["Scope"] == "CLOUDFRONT"
    config = distribution_config(home.web)
    assert config["ViewerCertificate"]["AcmCertificateArn"] == {"Ref": cert_id}
    assert config["WebACLId"] == get_att(acl_id, "Arn")
    records = {
        r["Properties"]["Type"] for r in resources(home.web, "AWS::Route53::RecordSet").values()
    }
    assert records == {"A", "AAAA"}


def test_cloudfront_alarms_exist_only_where_its_metrics_are(away: Built, home: Built) -> None:
    period = Duration.minutes(5)
    assert away.site.alarm_sources(FakeThresholds(), period=period) == ()
    (alarm,) = home.site.alarm_sources(FakeThresholds(), period=period)
    assert alarm.threshold == 10


def test_the_site_runs_no_code_and_takes_no_regional_acl(away: Built) -> None:
    assert away.site.runtime_role is None
    assert StaticSite.traits.runs_container is False
    assert StaticSite.traits.needs_cross_region_references("eu-west-1")
    assert not StaticSite.traits.needs_cross_region_references("us-east-1")
    assert away.site.url == "https://app.example.com"
    with pytest.raises(TypeError):
        away.site.associate_web_acl(None)  # type: ignore[arg-type]


def test_a_missing_source_folder_is_one_clear_error(tmp_path: Path) -> None:
    stack = Stack(scratch_app(), "S", env=Environment(account="111111111111", region="us-east-1"))
    options = SiteOptions(source=tmp_path / "missing")
    with pytest.raises(ValueError, match="is not a folder"):
        StaticSite(stack, "Site", props=site_props(stack), options=options)


def test_without_a_domain_the_url_is_the_distribution_and_no_acl_is_made(tmp_path: Path) -> None:
    built = build(tmp_path, "eu-west-1", domain=False, waf=False)
    assert built.edge is None  # nothing to put there: no empty stack
    config = distribution_config(built.web)
    assert "WebACLId" not in config
    assert "Aliases" not in config
    assert Stack.of(built.site).resolve(built.site.url) == {
        "Fn::Join": [
            "",
            [
                "https://",
                get_att(only(built.web, "AWS::CloudFront::Distribution")[0], "DomainName"),
            ],
        ]
    }
