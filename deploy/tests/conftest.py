"""Shared fixtures of the deployment tests: the chart rendered offline with
Helm's own Go SDK (helm-python-sdk), the value sets the tests run over, and
the auth-server binary that checks what the chart renders.

Run through scripts/deploy-tests.sh, which installs what these tests need.
"""

from __future__ import annotations

import base64
import copy
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "deploy" / "helm" / "auth-server"
RELEASE = "auth"
NAMESPACE = "platform"

# Kubernetes versions the manifests are validated against: the oldest the
# chart declares (Chart.yaml kubeVersion) and the newest kubernetes-validate
# knows.
KUBE_VERSIONS = ("1.25.0", "1.37.0")


@dataclass
class Rendered:
    """One offline render: every manifest as a dict, plus the raw texts."""

    files: dict[str, str]
    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
        return found[0]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        return found[0] if found else None

    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    @property
    def pod_spec(self) -> dict[str, Any]:
        return self.deployment["spec"]["template"]["spec"]

    @property
    def server(self) -> dict[str, Any]:
        (container,) = [c for c in self.pod_spec["containers"] if c["name"] == "auth-server"]
        return container

    def env(self, container: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        entries = (container or self.server)["env"]
        names = [e["name"] for e in entries]
        assert len(names) == len(set(names)), f"duplicate env names: {names}"
        return {e["name"]: e for e in entries}

    def secret_value(self, name: str, key: str) -> str | None:
        secret = self.find("Secret", name)
        if secret is None:
            return None
        if key in secret.get("stringData", {}):
            return secret["stringData"][key]
        if key in secret.get("data", {}):
            return base64.b64decode(secret["data"][key]).decode()
        return None

    def notes(self) -> str:
        return next(text for path, text in self.files.items() if path.endswith("NOTES.txt"))


@pytest.fixture(scope="session")
def chart() -> helm.Chart:
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


def render_chart(chart: helm.Chart, values: dict[str, Any], name: str = RELEASE) -> Rendered:
    files = chart.render(copy.deepcopy(values), name=name, namespace=NAMESPACE, is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return Rendered(files=files, docs=docs)


@pytest.fixture(scope="session")
def render(chart):
    def _render(values: dict[str, Any], name: str = RELEASE) -> Rendered:
        return render_chart(chart, values, name)

    return _render


# ---------------------------------------------------------------------------
# Value sets. The seed document's examples are kept verbatim where the seed
# document gives them; each set is a complete `-f values.yaml` a platform
# team could write.

SEED_DOC_HELM_EXAMPLE = yaml.safe_load(
    """
bootstrap:
  clients:
    confidential:
      - client_id: my-service
        client_name: My Service
        client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET
        client_authentication_method: client_secret_post
        scope: read

extraEnvVars:
  - name: MY_SERVICE_CLIENT_SECRET
    valueFrom:
      secretKeyRef:
        name: my-service-client-secret
        key: client_secret
"""
)

SEED_DOC_SERVICE_ACCOUNT = yaml.safe_load(
    """
bootstrap:
  serviceAccounts:
    - id: svc-my-service
      name: svc-my-service
      description: Service account for My Service
      active: true
      clientId: my-service
      roles: ["USER"]
      permissions: []
      groups: []
      attributes: {}
"""
)

SEED_DOC_EXISTING_CONFIGMAP = yaml.safe_load(
    """
bootstrap:
  clients:
    existingConfigMap: "my-clients-configmap"
"""
)

# "Managed platform clients": the chart owns the Secret, the registration
# stays in bootstrap.clients.confidential.
SEED_DOC_MANAGED_CLIENT = yaml.safe_load(
    """
bootstrap:
  clients:
    my-platform-service:
      envVarName: MY_SERVICE_CLIENT_SECRET
    confidential:
      - client_id: my-platform-service
        client_name: My Platform Service
        client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET
        client_authentication_method: client_secret_post
        scope: write
"""
)

# "Pattern 1: Direct Kubernetes Secret reference": the Secret is supplied.
SEED_DOC_MANAGED_EXISTING_SECRET = yaml.safe_load(
    """
bootstrap:
  clients:
    some-service:
      envVarName: SOME_SERVICE_CLIENT_SECRET
      existingSecret: "my-service-secret"   # must contain key: client_secret
    confidential:
      - client_id: some-service
        client_secret_env_var_name: SOME_SERVICE_CLIENT_SECRET
        scope: read
"""
)

ISTIO_ON = {
    "istio": {
        "authorizationPolicy": {
            "enabled": True,
            "principals": [
                "cluster.local/ns/platform/sa/my-service",
                "cluster.local/ns/analytics/sa/some-service",
            ],
        },
        "peerAuthentication": {"enabled": True},
    }
}

PRODUCTION = yaml.safe_load(
    """
replicas: 3
fullnameOverride: auth
database:
  existingSecret: auth-database
config:
  APP_ISSUER: https://auth.example.com
  APP_BCRYPT_COST: 12
  APP_CLIENT_SECRET_TTL: P90D
  APP_LOG_FORMAT: json
keysEncryption:
  existingSecret: auth-keys
migration:
  mode: job
metrics:
  serviceMonitor:
    enabled: true
    labels:
      release: prometheus
grafanaDashboard:
  enabled: true
  annotations:
    grafana_folder: Auth
podDisruptionBudget:
  maxUnavailable: null
  minAvailable: 2
bootstrap:
  clients:
    ingest:
      envVarName: INGEST_CLIENT_SECRET
    admin-cli:
      envVarName: ADMIN_CLI_CLIENT_SECRET
      secretName: auth-admin-cli
    confidential:
      - client_id: ingest
        client_secret_env_var_name: INGEST_CLIENT_SECRET
        scope: data.write
        access_token_ttl_minutes: 15
      - client_id: admin-cli
        client_secret_env_var_name: ADMIN_CLI_CLIENT_SECRET
  serviceAccounts:
    - id: svc-ingest
      clientId: ingest
      roles: [INGEST]
      groups: ["urn:example:groups:ops"]
      attributes: {tier: gold}
    - id: svc-admin
      clientId: admin-cli
      roles: [ADMIN_SYSTEM]
  catalogue:
    permissions:
      - name: data.write
        description: Write datasets
    roles:
      - name: INGEST
        permissions: [data.write]
    groups:
      - name: "urn:example:groups:ops"
"""
)


def merge(*parts: dict[str, Any]) -> dict[str, Any]:
    """Deep-merges value sets, as several -f files would."""
    out: dict[str, Any] = {}
    for part in parts:
        _merge_into(out, copy.deepcopy(part))
    return out


def _merge_into(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _merge_into(dst[key], value)
        else:
            dst[key] = value


VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "seed-doc-helm-example": merge(SEED_DOC_HELM_EXAMPLE, SEED_DOC_SERVICE_ACCOUNT),
    "seed-doc-existing-configmap": SEED_DOC_EXISTING_CONFIGMAP,
    "seed-doc-managed-client": SEED_DOC_MANAGED_CLIENT,
    "managed-client-existing-secret": SEED_DOC_MANAGED_EXISTING_SECRET,
    "existing-configmap-with-managed-client": merge(SEED_DOC_EXISTING_CONFIGMAP, SEED_DOC_MANAGED_CLIENT),
    "istio-on": merge(SEED_DOC_HELM_EXAMPLE, ISTIO_ON),
    "production": PRODUCTION,
    "production-istio-init-container": merge(
        PRODUCTION, ISTIO_ON, {"migration": {"mode": "initContainer"}, "database": {"existingSecret": "", "url": "postgres://auth:pw@db:5432/auth"}}
    ),
}

# Secrets and ConfigMaps that exist in the namespace before the install in
# these scenarios (created by the platform team, not by the chart).
EXTERNAL_SECRETS: dict[tuple[str, str], str] = {
    ("my-service-client-secret", "client_secret"): "seed-doc-secret-0123456789abcdef",
    ("my-service-secret", "client_secret"): "pattern-one-secret-0123456789abcd",
    ("auth-database", "url"): "postgres://auth:pw@db:5432/auth",
    ("auth-keys", "keys-encryption-secret"): "k" * 40,
}


# ---------------------------------------------------------------------------
# The auth-server binary.


@pytest.fixture(scope="session")
def auth_server_bin() -> Path:
    configured = os.environ.get("AUTH_SERVER_BIN")
    candidates = [Path(configured)] if configured else [
        REPO / "target" / "release" / "auth-server",
        REPO / "target" / "debug" / "auth-server",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "no auth-server binary: build it (cargo build --release -p auth-server) "
        f"or set AUTH_SERVER_BIN; looked at {[str(c) for c in candidates]}"
    )


def run_check(binary: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`auth-server check` with exactly `env` (plus PATH), as in the pod."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run(
        [str(binary), "check"], env=full, capture_output=True, text=True, timeout=60, check=False
    )


def materialize_pod(
    rendered: Rendered,
    root: Path,
    external_configmaps: dict[str, dict[str, str]] | None = None,
    pod_spec: dict[str, Any] | None = None,
    container: dict[str, Any] | None = None,
    rewrite_paths: bool = True,
) -> dict[str, str]:
    """What the server container would see, laid out on this machine.

    ConfigMap volumes are written under `root` at their mount paths, and the
    container's environment is resolved: plain values as they are,
    secretKeyRef from the rendered Secrets or, failing that, from the
    Secrets the scenario says exist already (EXTERNAL_SECRETS). Paths under
    a mount point are rewritten to their place under `root`, unless the
    files are to be mounted at their own paths (a container). A reference
    to anything that would not exist in the cluster fails the test.
    """
    pod_spec = pod_spec or rendered.pod_spec
    container = container or rendered.server
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    moved: dict[str, str] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        host_dir = root / mount["mountPath"].lstrip("/")
        host_dir.mkdir(parents=True, exist_ok=True)
        moved[mount["mountPath"]] = str(host_dir)
        if "configMap" in volume:
            cm_name = volume["configMap"]["name"]
            cm = rendered.find("ConfigMap", cm_name)
            data = cm["data"] if cm else (external_configmaps or {}).get(cm_name)
            assert data is not None, f"ConfigMap {cm_name} is neither rendered nor supplied"
            for item in volume["configMap"].get("items", [{"key": k, "path": k} for k in data]):
                assert item["key"] in data, f"ConfigMap {cm_name} has no key {item['key']}"
                (host_dir / item["path"]).write_text(data[item["key"]])
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "value" in entry:
            value = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            value = rendered.secret_value(ref["name"], ref["key"])
            if value is None:
                value = EXTERNAL_SECRETS.get((ref["name"], ref["key"]))
            assert value is not None, f"{entry['name']}: Secret {ref['name']} key {ref['key']} would not exist"
        # The deepest mount point holding the path wins, as in the container.
        for mount_path in sorted(moved if rewrite_paths else (), key=len, reverse=True):
            if value.startswith(mount_path + "/"):
                value = moved[mount_path] + value[len(mount_path):]
                break
        env[entry["name"]] = value
    return env
