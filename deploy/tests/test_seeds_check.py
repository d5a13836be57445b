"""The seeds the chart renders are seeds the server accepts.

For each value set, the clients and service-accounts files are laid out as
the pod would mount them, the server container's environment is resolved as
Kubernetes would resolve it (the chart's own Secrets, and the Secrets the
scenario has the platform team create), and `auth-server check` runs on
them: it validates configuration and seeds without a database."""

from __future__ import annotations

import pytest
import yaml

from conftest import PRODUCTION, VALUE_SETS, materialize_pod, merge, run_check

# The seed document's own example clients file, as a platform team would
# keep it in the ConfigMap named by bootstrap.clients.existingConfigMap.
SEED_DOC_CLIENTS_FILE = """\
clients:
  public: []
  confidential:
    - client_id: my-platform-service
      client_name: My Platform Service
      client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET
      client_authentication_method: client_secret_post
      access_token_ttl_minutes: 60
      scope: write
"""
EXTERNAL_CONFIGMAPS = {"my-clients-configmap": {"clients.yaml": SEED_DOC_CLIENTS_FILE}}

EXPECTED_CLIENTS = {
    "defaults": 0,
    "seed-doc-helm-example": 1,
    "seed-doc-existing-configmap": None,
    "seed-doc-managed-client": 1,
    "managed-client-existing-secret": 1,
    "existing-configmap-with-managed-client": 1,
    "istio-on": 1,
    "production": 2,
    "production-istio-init-container": 2,
}


def check_case(render, values, tmp_path, auth_server_bin, configmaps=None):
    rendered = render(values)
    env = materialize_pod(rendered, tmp_path, external_configmaps=configmaps or EXTERNAL_CONFIGMAPS)
    return rendered, env, run_check(auth_server_bin, env)


@pytest.mark.parametrize("case", [c for c in sorted(VALUE_SETS) if c != "seed-doc-existing-configmap"])
def test_server_accepts_the_rendered_seeds(render, tmp_path, auth_server_bin, case):
    rendered, env, result = check_case(render, VALUE_SETS[case], tmp_path, auth_server_bin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:"), result.stdout
    clients_file = yaml.safe_load(open(env["APP_SEED_CLIENTS_FILE"]))
    assert len(clients_file["clients"]["confidential"]) == EXPECTED_CLIENTS[case]
    # No secret value reaches the output.
    for name, value in env.items():
        if name.endswith("_SECRET"):
            assert value not in result.stdout + result.stderr


def test_existing_configmap_without_its_secret_is_refused_by_the_server(render, tmp_path, auth_server_bin):
    """The seed document's existingConfigMap example alone: its clients.yaml
    registers a client whose variable nothing injects. The chart cannot see
    inside that ConfigMap; `auth-server check` does, and names the client
    and the variable."""
    _, _, result = check_case(render, VALUE_SETS["seed-doc-existing-configmap"], tmp_path, auth_server_bin)
    assert result.returncode == 1
    assert "my-platform-service" in result.stderr
    assert "MY_SERVICE_CLIENT_SECRET" in result.stderr


def test_a_role_missing_from_the_catalogue_is_refused_by_the_server(render, tmp_path, auth_server_bin):
    values = merge(PRODUCTION)
    values["bootstrap"]["catalogue"]["roles"] = []
    _, _, result = check_case(render, values, tmp_path, auth_server_bin)
    assert result.returncode == 1
    assert "svc-ingest" in result.stderr and "INGEST" in result.stderr


def test_migration_job_environment_is_a_valid_configuration(render, tmp_path, auth_server_bin):
    rendered = render(PRODUCTION)
    job = rendered.one("Job")
    pod = job["spec"]["template"]["spec"]
    env = materialize_pod(rendered, tmp_path, pod_spec=pod, container=pod["containers"][0])
    result = run_check(auth_server_bin, env)
    assert result.returncode == 0, result.stderr
