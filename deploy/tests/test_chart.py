"""The Helm chart, rendered offline with Helm's Go SDK for each value set:
lint, Kubernetes schema validation, and what each value must change in the
manifests."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from conftest import (
    CHART_DIR,
    EXTERNAL_SECRETS,
    ISTIO_ON,
    KUBE_VERSIONS,
    NAMESPACE,
    PRODUCTION,
    REPO,
    SEED_DOC_EXISTING_CONFIGMAP,
    SEED_DOC_HELM_EXAMPLE,
    SEED_DOC_MANAGED_CLIENT,
    SEED_DOC_MANAGED_EXISTING_SECRET,
    SEED_DOC_SERVICE_ACCOUNT,
    VALUE_SETS,
    merge,
    render_chart,
)

# Kinds that kubernetes-validate has no schema for; checked by assertion below.
CUSTOM_KINDS = {
    ("security.istio.io/v1", "AuthorizationPolicy"),
    ("security.istio.io/v1", "PeerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}

CASES = sorted(VALUE_SETS)


def seed(rendered, configmap_suffix: str, key: str) -> dict[str, Any]:
    cm = rendered.one("ConfigMap", f"{rendered.deployment['metadata']['name']}-{configmap_suffix}")
    return yaml.safe_load(cm["data"][key])


# ---------------------------------------------------------------------------
# Every value set.


@pytest.mark.parametrize("case", CASES)
def test_lint_is_clean_in_strict_mode(case):
    report = helm.lint(CHART_DIR, VALUE_SETS[case], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_manifests_validate_against_kubernetes_schemas(render, case, kube_version):
    rendered = render(VALUE_SETS[case])
    assert rendered.docs, "nothing rendered"
    for doc in rendered.docs:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} invalid for {kube_version} at {path}: {e.message}")


@pytest.mark.parametrize("case", CASES)
def test_objects_refer_to_each_other_consistently(render, case):
    values = VALUE_SETS[case]
    rendered = render(values)
    pod_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    selector = rendered.deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    service = rendered.one("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0] == {
        "name": "http",
        "port": 8080,
        "targetPort": "http",
        "protocol": "TCP",
        "appProtocol": "http",
    }
    container_ports = {p["name"] for p in rendered.server["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    for policy in rendered.of_kind("NetworkPolicy"):
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
        for rule in policy["spec"]["ingress"]:
            assert {p["port"] for p in rule["ports"]} <= container_ports
    for pdb in rendered.of_kind("PodDisruptionBudget"):
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    spec = rendered.pod_spec
    volumes = {v["name"] for v in spec["volumes"]}
    for container in spec["containers"] + spec.get("initContainers", []):
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes, f"{container['name']} mounts unknown volume {mount['name']}"
    port_names = {p["name"] for p in rendered.server["ports"]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert rendered.server[probe]["httpGet"]["port"] in port_names

    assert spec["serviceAccountName"] == rendered.one("ServiceAccount")["metadata"]["name"]

    # Every Secret the pod reads is rendered here or is one the scenario
    # says exists already; every ConfigMap likewise.
    for name, entry in rendered.env().items():
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            known = rendered.secret_value(ref["name"], ref["key"]) is not None or (ref["name"], ref["key"]) in EXTERNAL_SECRETS
            assert known, f"{name} reads {ref} which nothing provides"
    existing_cm = values.get("bootstrap", {}).get("clients", {}).get("existingConfigMap")
    for volume in spec["volumes"]:
        if "configMap" in volume:
            cm = volume["configMap"]["name"]
            assert rendered.find("ConfigMap", cm) is not None or cm == existing_cm


@pytest.mark.parametrize("case", CASES)
def test_server_container_is_hardened_and_probed(render, case):
    rendered = render(VALUE_SETS[case])
    pod = rendered.pod_spec
    server = rendered.server
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    ctx = server["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert server["args"] == ["serve"]
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["ports"][0]["containerPort"] == 8080
    assert server["resources"]["limits"]["memory"]
    env = rendered.env()
    assert env["APP_BIND"]["value"] == "0.0.0.0:8080"
    assert env["APP_REQUIRE_HTTPS"]["value"] == "true"
    assert env["APP_SEED_CLIENTS_FILE"]["value"] == "/etc/auth-server/seed/clients/clients.yaml"
    assert env["APP_SEED_SERVICE_ACCOUNTS_FILE"]["value"] == "/etc/auth-server/seed/service-accounts/service-accounts.yaml"
    mounts = {m["mountPath"]: m for m in server["volumeMounts"]}
    assert mounts["/etc/auth-server/seed/clients"]["readOnly"] is True
    assert "/tmp" in mounts
    # Seeds are read at startup only, so the pods must roll when they change.
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert {"checksum/seed-clients", "checksum/seed-service-accounts"} <= annotations.keys()


def test_the_pod_drains_before_it_stops_and_gets_the_time_for_it(render):
    # SIGTERM: the server serves on with /readyz at 503 for the drain, then
    # finishes in-flight requests for up to 30 s; the grace period covers both.
    rendered = render({})
    env = rendered.env()
    assert env["APP_SHUTDOWN_DRAIN"]["value"] == "PT10S"
    assert rendered.pod_spec["terminationGracePeriodSeconds"] >= 10 + 30
    # The drain is the server's own: no hook delays SIGTERM.
    assert "lifecycle" not in rendered.server
    longer = render({"shutdown": {"drainSeconds": 25}, "terminationGracePeriodSeconds": 60})
    assert longer.env()["APP_SHUTDOWN_DRAIN"]["value"] == "PT25S"
    assert longer.pod_spec["terminationGracePeriodSeconds"] == 60
    assert render({"shutdown": {"drainSeconds": 0}}).env()["APP_SHUTDOWN_DRAIN"]["value"] == "PT0S"


def test_traces_are_turned_on_through_config(render):
    rendered = render({"config": {"APP_OTLP_ENDPOINT": "http://otel-collector.observability:4318"}})
    assert rendered.env()["APP_OTLP_ENDPOINT"]["value"] == "http://otel-collector.observability:4318"


# ---------------------------------------------------------------------------
# Defaults.


def test_forwarded_headers_are_trusted_from_the_sidecar_only_by_default(render):
    env = render({}).env()
    assert env["APP_FORWARDED_TRUSTED_PROXIES"]["value"] == "127.0.0.0/8,::1"
    assert env["APP_FORWARDED_HEADERS"]["value"] == "x-forwarded"


def test_an_ingress_pod_cidr_can_be_trusted(render):
    rendered = render({"forwarding": {"trustedProxies": ["127.0.0.0/8", "::1", "10.244.0.0/16"], "forwardedHeaders": "forwarded"}})
    env = rendered.env()
    assert env["APP_FORWARDED_TRUSTED_PROXIES"]["value"] == "127.0.0.0/8,::1,10.244.0.0/16"
    assert env["APP_FORWARDED_HEADERS"]["value"] == "forwarded"


def test_defaults_run_one_pod_on_sqlite_in_an_empty_dir(render):
    rendered = render({})
    assert rendered.deployment["spec"]["replicas"] == 1
    assert rendered.deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = rendered.env()
    assert env["APP_DATABASE_URL"]["value"] == "sqlite:///var/lib/auth-server/auth-server.db"
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert seed(rendered, "clients", "clients.yaml") == {"clients": {"public": [], "confidential": []}}
    assert seed(rendered, "service-accounts", "service-accounts.yaml") == {"serviceAccounts": []}
    assert rendered.of_kind("Secret") == []
    assert rendered.of_kind("Job") == []
    assert [d["kind"] for d in rendered.docs if (d["apiVersion"], d["kind"]) in CUSTOM_KINDS] == []
    assert rendered.one("PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": rendered.deployment["spec"]["selector"],
    }
    assert "SQLite on an emptyDir" in rendered.notes()


# ---------------------------------------------------------------------------
# Seeds.


def test_seed_doc_helm_example_renders_the_seed_file_and_injects_the_secret(render):
    rendered = render(VALUE_SETS["seed-doc-helm-example"])
    clients = seed(rendered, "clients", "clients.yaml")
    assert clients == {
        "clients": {
            "public": [],
            "confidential": SEED_DOC_HELM_EXAMPLE["bootstrap"]["clients"]["confidential"],
        }
    }
    accounts = seed(rendered, "service-accounts", "service-accounts.yaml")
    assert accounts == {"serviceAccounts": SEED_DOC_SERVICE_ACCOUNT["bootstrap"]["serviceAccounts"]}
    assert rendered.env()["MY_SERVICE_CLIENT_SECRET"] == SEED_DOC_HELM_EXAMPLE["extraEnvVars"][0]
    # No managed client here, so the chart creates no Secret: the seed
    # document has the platform team create my-service-client-secret.
    assert rendered.of_kind("Secret") == []


def test_catalogue_extensions_go_into_the_service_accounts_file(render):
    rendered = render(PRODUCTION)
    accounts = seed(rendered, "service-accounts", "service-accounts.yaml")
    catalogue = PRODUCTION["bootstrap"]["catalogue"]
    assert accounts["permissions"] == catalogue["permissions"]
    assert accounts["roles"] == catalogue["roles"]
    assert accounts["groups"] == catalogue["groups"]
    assert [a["id"] for a in accounts["serviceAccounts"]] == ["svc-ingest", "svc-admin"]


def test_seed_changes_change_the_pod_template(render):
    before = render(VALUE_SETS["seed-doc-helm-example"]).deployment["spec"]["template"]["metadata"]["annotations"]
    changed = merge(VALUE_SETS["seed-doc-helm-example"])
    changed["bootstrap"]["serviceAccounts"][0]["roles"] = ["ADMIN_SYSTEM"]
    after = render(changed).deployment["spec"]["template"]["metadata"]["annotations"]
    assert before["checksum/seed-clients"] == after["checksum/seed-clients"]
    assert before["checksum/seed-service-accounts"] != after["checksum/seed-service-accounts"]


def test_existing_configmap_replaces_the_generated_one_and_ignores_inline_clients(render):
    values = merge(SEED_DOC_EXISTING_CONFIGMAP, SEED_DOC_HELM_EXAMPLE)
    # An entry whose variable nothing injects would fail the render if the
    # inline clients were used; with existingConfigMap they are ignored.
    values["bootstrap"]["clients"]["confidential"].append(
        {"client_id": "ignored", "client_secret_env_var_name": "NOT_INJECTED"}
    )
    rendered = render(values)
    names = [cm["metadata"]["name"] for cm in rendered.of_kind("ConfigMap")]
    assert names == ["auth-auth-server-service-accounts"]
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    assert volumes["seed-clients"]["configMap"] == {
        "name": "my-clients-configmap",
        "items": [{"key": "clients.yaml", "path": "clients.yaml"}],
    }


# ---------------------------------------------------------------------------
# Managed platform client secrets.


def test_managed_client_secret_is_generated_kept_and_injected(render):
    rendered = render(SEED_DOC_MANAGED_CLIENT)
    secret = rendered.one("Secret", "my-platform-service-client-secret")
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert set(secret["data"]) == {"client_secret"}
    value = base64.b64decode(secret["data"]["client_secret"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{48}", value), "48 random alphanumerics: within 16..72 bytes"
    assert rendered.env()["MY_SERVICE_CLIENT_SECRET"] == {
        "name": "MY_SERVICE_CLIENT_SECRET",
        "valueFrom": {"secretKeyRef": {"name": "my-platform-service-client-secret", "key": "client_secret"}},
    }
    # Registration stays in confidential, referring to the injected variable.
    clients = seed(rendered, "clients", "clients.yaml")["clients"]["confidential"]
    assert clients[0]["client_secret_env_var_name"] == "MY_SERVICE_CLIENT_SECRET"
    assert "my-platform-service-client-secret -> MY_SERVICE_CLIENT_SECRET" in rendered.notes()


def test_first_install_generates_a_fresh_secret_each_time(render):
    first = render(SEED_DOC_MANAGED_CLIENT).secret_value("my-platform-service-client-secret", "client_secret")
    second = render(SEED_DOC_MANAGED_CLIENT).secret_value("my-platform-service-client-secret", "client_secret")
    assert first != second


def test_upgrade_reuses_the_existing_secret_through_lookup(tmp_path):
    """An offline render has no cluster, so `lookup` returns nothing. Here
    the template's lookup is replaced by what the API server would answer
    for an existing Secret; the chart must then keep that value."""
    template = CHART_DIR / "templates" / "secret-managed-clients.yaml"
    source = template.read_text()
    call = 'lookup "v1" "Secret" $.Release.Namespace $m.secretName'
    assert source.count(call) == 1, "the managed Secret must be looked up by its own name"
    existing = base64.b64encode(b"value-hashed-by-the-server-on-install").decode()
    copy_dir = tmp_path / "auth-server"
    shutil.copytree(CHART_DIR, copy_dir)
    (copy_dir / "templates" / template.name).write_text(
        source.replace(call, f'(dict "data" (dict "client_secret" "{existing}"))')
    )
    upgraded = helm.Chart.load(copy_dir)
    try:
        rendered = render_chart(upgraded, SEED_DOC_MANAGED_CLIENT)
    finally:
        upgraded.close()
    secret = rendered.one("Secret", "my-platform-service-client-secret")
    assert secret["data"]["client_secret"] == existing
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_managed_client_with_existing_secret_creates_nothing(render):
    rendered = render(SEED_DOC_MANAGED_EXISTING_SECRET)
    assert rendered.of_kind("Secret") == []
    assert rendered.env()["SOME_SERVICE_CLIENT_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "my-service-secret", "key": "client_secret"}
    }
    assert "existing Secret, not managed by this release" in rendered.notes()


def test_managed_secret_name_can_be_overridden(render):
    rendered = render(PRODUCTION)
    names = sorted(s["metadata"]["name"] for s in rendered.of_kind("Secret"))
    assert names == ["auth-admin-cli", "ingest-client-secret"]
    assert rendered.env()["ADMIN_CLI_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "auth-admin-cli"


def test_managed_secrets_are_injected_with_an_existing_configmap(render):
    rendered = render(VALUE_SETS["existing-configmap-with-managed-client"])
    assert rendered.find("ConfigMap", "auth-auth-server-clients") is None
    assert rendered.one("Secret", "my-platform-service-client-secret")
    assert "MY_SERVICE_CLIENT_SECRET" in rendered.env()


# ---------------------------------------------------------------------------
# Database, settings, migrations, monitoring.


def test_production_values(render):
    rendered = render(PRODUCTION)
    deployment = rendered.deployment
    assert deployment["metadata"]["name"] == "auth"
    assert rendered.one("Service")["metadata"]["name"] == "auth"
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    env = rendered.env()
    assert env["APP_DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "auth-database", "key": "url"}}
    assert env["APP_ISSUER"]["value"] == "https://auth.example.com"
    assert env["APP_BCRYPT_COST"]["value"] == "12"
    assert env["APP_CLIENT_SECRET_TTL"]["value"] == "P90D"
    assert env["APP_KEYS_ENCRYPTION_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "auth-keys", "key": "keys-encryption-secret"}
    }
    assert "data" not in {v["name"] for v in rendered.pod_spec["volumes"]}
    assert rendered.find("Secret", "auth-database") is None
    assert rendered.one("PodDisruptionBudget")["spec"]["minAvailable"] == 2
    assert "maxUnavailable" not in rendered.one("PodDisruptionBudget")["spec"]
    assert "WARNING" not in rendered.notes()


def test_database_url_is_kept_in_a_secret(render):
    url = "postgres://auth:s3cret@db:5432/auth"
    rendered = render({"database": {"url": url}, "replicas": 2, "config": {"APP_ISSUER": "https://auth.example.com"}})
    assert rendered.secret_value("auth-auth-server-database", "url") == url
    assert rendered.env()["APP_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "auth-auth-server-database", "key": "url"}
    assert url not in rendered.files["auth-server/templates/deployment.yaml"]


def test_migration_job_runs_before_upgrades(render):
    rendered = render(PRODUCTION)
    job = rendered.one("Job", "auth-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["migrate"]
    assert pod["restartPolicy"] == "Never"
    env = {e["name"]: e for e in container["env"]}
    assert env["APP_DATABASE_URL"] == rendered.env()["APP_DATABASE_URL"]
    assert "APP_SEED_CLIENTS_FILE" not in env, "migrate needs no seeds"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert "initContainers" not in rendered.pod_spec


def test_migration_init_container(render):
    rendered = render(VALUE_SETS["production-istio-init-container"])
    (init,) = rendered.pod_spec["initContainers"]
    assert init["args"] == ["migrate"]
    assert init["image"] == rendered.server["image"]
    init_env = {e["name"]: e for e in init["env"]}
    assert init_env["APP_DATABASE_URL"] == rendered.env()["APP_DATABASE_URL"]
    assert rendered.of_kind("Job") == []


def test_service_monitor_scrapes_metrics_on_the_admin_port(render):
    rendered = render(PRODUCTION)
    monitor = rendered.one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= rendered.one("Service")["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "http-admin", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    # Without a separate admin port, /metrics is on the main one.
    rendered = render(merge(PRODUCTION, {"admin": {"enabled": False}}))
    assert rendered.one("ServiceMonitor")["spec"]["endpoints"][0]["port"] == "http"


def test_grafana_dashboard_is_offered_as_a_configmap_for_the_sidecar(render):
    def dashboards(rendered):
        return [cm for cm in rendered.of_kind("ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]]

    assert dashboards(render({})) == []
    rendered = render(PRODUCTION)
    (cm,) = dashboards(rendered)
    assert cm["metadata"]["name"] == "auth-dashboard"
    assert cm["metadata"]["namespace"] == NAMESPACE
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Auth"}
    # The chart's copy is the dashboard of deploy/grafana, which the Rust
    # test checks against a running server's /metrics.
    shipped = json.loads((REPO / "deploy" / "grafana" / "auth-server.json").read_text())
    assert json.loads(cm["data"]["auth-server.json"]) == shipped
    assert shipped["uid"] == "auth-server"
    # Another namespace and label for a sidecar configured otherwise.
    other = render(merge(PRODUCTION, {"grafanaDashboard": {"namespace": "monitoring", "label": "dashboards", "labelValue": "auth"}}))
    (cm,) = [c for c in other.of_kind("ConfigMap") if c["metadata"]["name"] == "auth-dashboard"]
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["dashboards"] == "auth"
    assert "grafana_dashboard" not in cm["metadata"]["labels"]


def test_admin_api_has_its_own_port_and_service_port_by_default(render):
    rendered = render({})
    container = rendered.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8080, "admin": 9090}
    assert rendered.env()["APP_ADMIN_BIND"]["value"] == "0.0.0.0:9090"
    assert rendered.env()["APP_BIND"]["value"] == "0.0.0.0:8080"
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in rendered.one("Service")["spec"]["ports"]}
    assert ports == {"http": (8080, "http"), "http-admin": (9090, "admin")}
    # Probes stay on the main port, where /healthz and /readyz also answer.
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    # Switched off: one port for everything, as before.
    rendered = render({"admin": {"enabled": False}})
    container = rendered.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert [p["name"] for p in container["ports"]] == ["http"]
    assert "APP_ADMIN_BIND" not in rendered.env()
    assert [p["name"] for p in rendered.one("Service")["spec"]["ports"]] == ["http"]


def test_network_policy_admits_the_admin_port_only_from_the_named_peers(render):
    peers = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}},
        {"podSelector": {"matchLabels": {"app": "admin-console"}}},
    ]
    rendered = render({"networkPolicy": {"adminFrom": peers}})
    policy = rendered.one("NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
        rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    rules = policy["spec"]["ingress"]
    by_port = {rule["ports"][0]["port"]: rule for rule in rules}
    assert set(by_port) == {"http", "admin"}
    # The main port from anywhere; the admin port from the named peers only.
    assert "from" not in by_port["http"]
    assert by_port["admin"]["from"] == peers
    assert all(len(rule["ports"]) == 1 for rule in rules)

    # Nobody named: no rule admits the admin port at all.
    rendered = render({})
    rules = rendered.one("NetworkPolicy")["spec"]["ingress"]
    assert [rule["ports"] for rule in rules] == [[{"port": "http", "protocol": "TCP"}]]
    assert "from" not in rules[0]

    rendered = render({"networkPolicy": {"enabled": False}})
    assert rendered.of_kind("NetworkPolicy") == []


def test_image_tag_defaults_to_app_version_and_digest_wins(render, chart):
    assert render({}).server["image"] == f"auth-server:{chart.metadata['appVersion']}"
    digest = "sha256:" + "a" * 64
    assert render({"image": {"repository": "registry.example/auth", "digest": digest}}).server["image"] == f"registry.example/auth@{digest}"


# ---------------------------------------------------------------------------
# Istio.


def test_istio_resources_allow_only_the_listed_principals(render):
    rendered = render(VALUE_SETS["istio-on"])
    pod_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    policy = rendered.one("AuthorizationPolicy")
    assert policy["apiVersion"] == "security.istio.io/v1"
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["action"] == "ALLOW"
    assert policy["spec"]["rules"] == [
        {
            "from": [{"source": {"principals": ISTIO_ON["istio"]["authorizationPolicy"]["principals"]}}],
            "to": [{"operation": {"ports": ["8080"]}}],
        }
    ]
    peer = rendered.one("PeerAuthentication")
    assert peer["spec"] == {"selector": {"matchLabels": policy["spec"]["selector"]["matchLabels"]}, "mtls": {"mode": "STRICT"}}
    # mTLS is below the application: the HTTPS rule of the server stays on.
    assert rendered.env()["APP_REQUIRE_HTTPS"]["value"] == "true"


def test_istio_extra_rules_are_appended(render):
    extra = {"to": [{"operation": {"paths": ["/metrics"], "methods": ["GET"]}}]}
    values = merge(ISTIO_ON, {"istio": {"authorizationPolicy": {"extraRules": [extra]}}})
    rules = render(values).one("AuthorizationPolicy")["spec"]["rules"]
    assert rules[1:] == [extra]


def test_istio_off_renders_no_istio_resources(render):
    rendered = render(VALUE_SETS["seed-doc-helm-example"])
    assert rendered.of_kind("AuthorizationPolicy") == []
    assert rendered.of_kind("PeerAuthentication") == []


# ---------------------------------------------------------------------------
# Values the templates refuse (what the schema cannot express).

REFUSED = [
    ({"replicas": 2}, "2 replicas need PostgreSQL"),
    ({"admin": {"port": 8080}}, "admin.port: must differ from service.port"),
    ({"database": {"url": "postgres://db/auth", "existingSecret": "db"}}, "mutually exclusive"),
    ({"migration": {"mode": "job"}}, "migration.mode: job needs PostgreSQL"),
    ({"istio": {"authorizationPolicy": {"enabled": True}}}, "would deny every request"),
    (
        {"bootstrap": {"clients": {"confidential": [{"client_id": "x", "client_secret_env_var_name": "X_SECRET"}]}}},
        "client x reads its secret from X_SECRET, which the chart does not inject",
    ),
    (
        {"bootstrap": {"clients": {"a": {"envVarName": "SAME"}, "b": {"envVarName": "SAME"}}}},
        "bootstrap.clients.b.envVarName: SAME is already set",
    ),
    (
        merge(SEED_DOC_MANAGED_CLIENT, {"extraEnvVars": [{"name": "MY_SERVICE_CLIENT_SECRET", "value": "x" * 20}]}),
        "extraEnvVars: MY_SERVICE_CLIENT_SECRET is already set",
    ),
    (
        {"shutdown": {"drainSeconds": 20}, "terminationGracePeriodSeconds": 45},
        "terminationGracePeriodSeconds: 45 is shorter than shutdown.drainSeconds (20) + 30 s",
    ),
    (
        {"extraEnvVars": [{"name": "APP_SHUTDOWN_DRAIN", "value": "PT1S"}]},
        "extraEnvVars: APP_SHUTDOWN_DRAIN is already set",
    ),
]


@pytest.mark.parametrize("values,message", REFUSED, ids=[m for _, m in REFUSED])
def test_inconsistent_values_fail_the_render(render, values, message):
    with pytest.raises(helm.HelmRenderError) as e:
        render(values)
    assert message in str(e.value)
