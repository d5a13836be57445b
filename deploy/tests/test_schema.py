"""values.schema.json: bad values fail at install time, with the value named.

Helm validates the merged values against the schema before it renders, so
each case goes through the same render call an install makes."""

from __future__ import annotations

import helm_python as helm
import pytest

from conftest import CHART_DIR, VALUE_SETS

CONFIDENTIAL = {"client_id": "my-service", "client_secret_env_var_name": "MY_SERVICE_CLIENT_SECRET"}


def clients(**extra):
    return {"bootstrap": {"clients": extra}}


BAD_VALUES = [
    ("unknown top-level key", {"extraEnvVar": []}, "additional properties 'extraEnvVar' not allowed"),
    ("zero replicas", {"replicas": 0}, "/replicas"),
    ("replicas as text", {"replicas": "two"}, "/replicas"),
    ("misspelt setting", {"config": {"APP_ISUER": "https://a"}}, "'APP_ISUER' not allowed"),
    ("chart-owned setting", {"config": {"APP_DATABASE_URL": "postgres://x"}}, "'APP_DATABASE_URL' not allowed"),
    ("secret in plain config", {"config": {"APP_KEYS_ENCRYPTION_SECRET": "x" * 40}}, "'APP_KEYS_ENCRYPTION_SECRET' not allowed"),
    ("years are no duration", {"config": {"APP_CLIENT_SECRET_TTL": "P1Y"}}, "/config/APP_CLIENT_SECRET_TTL"),
    ("bcrypt cost too low", {"config": {"APP_BCRYPT_COST": 3}}, "/config/APP_BCRYPT_COST"),
    ("unsupported algorithm", {"config": {"APP_SIGNING_ALG": "HS256"}}, "/config/APP_SIGNING_ALG"),
    ("issuer with trailing slash", {"config": {"APP_ISSUER": "https://auth.example.com/"}}, "/config/APP_ISSUER"),
    ("bad boolean", {"config": {"APP_REQUIRE_HTTPS": "maybe"}}, "/config/APP_REQUIRE_HTTPS"),
    (
        "trusted proxies set outside forwarding",
        {"config": {"APP_FORWARDED_TRUSTED_PROXIES": "10.0.0.0/8"}},
        "'APP_FORWARDED_TRUSTED_PROXIES' not allowed",
    ),
    ("header family", {"forwarding": {"forwardedHeaders": "both"}}, "/forwarding/forwardedHeaders"),
    ("trusted proxies as a string", {"forwarding": {"trustedProxies": "10.0.0.0/8"}}, "/forwarding/trustedProxies"),
    ("trusted proxy not an address", {"forwarding": {"trustedProxies": ["ingress-nginx"]}}, "/forwarding/trustedProxies"),
    ("negative per-client limit", {"config": {"APP_TOKEN_FAILURE_LIMIT_PER_CLIENT": -1}}, "/config/APP_TOKEN_FAILURE_LIMIT_PER_CLIENT"),
    (
        "client without secret variable",
        clients(confidential=[{"client_id": "a"}]),
        "missing property 'client_secret_env_var_name'",
    ),
    (
        "unknown client field",
        clients(confidential=[{**CONFIDENTIAL, "client_secret": "plaintext"}]),
        "additional properties 'client_secret' not allowed",
    ),
    ("token ttl zero", clients(confidential=[{**CONFIDENTIAL, "access_token_ttl_minutes": 0}]), "access_token_ttl_minutes"),
    ("token ttl over a day", clients(confidential=[{**CONFIDENTIAL, "access_token_ttl_minutes": 1441}]), "access_token_ttl_minutes"),
    (
        "unknown authentication method",
        clients(confidential=[{**CONFIDENTIAL, "client_authentication_method": "private_key_jwt"}]),
        "client_authentication_method",
    ),
    ("client id with a space", clients(confidential=[{**CONFIDENTIAL, "client_id": "my service"}]), "client_id"),
    ("public client without id", clients(public=[{"client_name": "x"}]), "missing property 'client_id'"),
    ("managed client without variable", clients(**{"some-service": {"existingSecret": "s"}}), "missing property 'envVarName'"),
    ("managed client typo", clients(**{"some-service": {"envVarName": "X", "existingSecrets": "s"}}), "'existingSecrets' not allowed"),
    ("managed client not a DNS name", clients(**{"Some_Service": {"envVarName": "X"}}), "Some_Service"),
    ("managed client as a string", clients(**{"some-service": "X"}), "some-service"),
    ("account without id", {"bootstrap": {"serviceAccounts": [{"name": "x"}]}}, "missing property 'id'"),
    (
        "account field in snake case",
        {"bootstrap": {"serviceAccounts": [{"id": "svc", "client_id": "a"}]}},
        "additional properties 'client_id' not allowed",
    ),
    ("roles as a string", {"bootstrap": {"serviceAccounts": [{"id": "svc", "roles": "USER"}]}}, "/roles"),
    (
        "role without permissions",
        {"bootstrap": {"catalogue": {"roles": [{"name": "R"}]}}},
        "missing property 'permissions'",
    ),
    ("unknown catalogue section", {"bootstrap": {"catalogue": {"scopes": []}}}, "'scopes' not allowed"),
    ("database scheme", {"database": {"url": "mysql://db/auth"}}, "/database/url"),
    ("env var without name", {"extraEnvVars": [{"value": "x"}]}, "missing property 'name'"),
    ("env var typo", {"extraEnvVars": [{"name": "A", "valueFrom": {}, "vaule": "x"}]}, "'vaule' not allowed"),
    ("migration mode", {"migration": {"mode": "always"}}, "/migration/mode"),
    ("peer authentication mode", {"istio": {"peerAuthentication": {"mode": "strict"}}}, "/istio/peerAuthentication/mode"),
    ("principals as a string", {"istio": {"authorizationPolicy": {"principals": "cluster.local/ns/a/sa/b"}}}, "principals"),
    ("service port", {"service": {"port": 70000}}, "/service/port"),
    ("image digest", {"image": {"digest": "latest"}}, "/image/digest"),
]


@pytest.mark.parametrize("values,message", [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_schema_rejects_bad_values(render, values, message):
    with pytest.raises(helm.HelmValuesError) as e:
        render(values)
    assert message in str(e.value)


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_schema_accepts_every_value_set(chart, case):
    chart.validate_schema(chart.merge_values(VALUE_SETS[case]))


def test_schema_accepts_the_documented_forms_of_settings(render):
    render(
        {
            "config": {
                "APP_REQUIRE_HTTPS": "off",
                "APP_CLIENT_SECRET_TTL": "P1DT12H30M",
                "APP_DATABASE_POOL_TIMEOUT": "PT0.5S",
                "APP_CLIENT_SECRET_PREVIOUS_GRACE_WINDOW": "pt6h",
                "APP_TOKEN_FAILURE_LIMIT_PER_CLIENT": 100,
                "APP_SIGNING_ALG": "EdDSA",
                "APP_ISSUER": "https://auth.example.com/realms/core",
            },
            "forwarding": {"trustedProxies": ["127.0.0.0/8", "::1", "10.244.0.0/16", "fd00::/8"], "forwardedHeaders": "forwarded"},
        }
    )


def test_lint_reports_schema_errors():
    report = helm.lint(CHART_DIR, {"replicas": 0})
    assert any("/replicas" in e for e in report["errors"]), report
