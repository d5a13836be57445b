"""The container image from deploy/Containerfile: built with podman from the
binary built in CI, then run the way the chart runs it (read-only root, no
capabilities, non-root, seeds mounted from the chart's ConfigMaps, client
secrets in the environment). A client gets a token over HTTP and the token
verifies against the server's JWKS.

No registry is reachable here, so the base image comes from the caller:
scripts/deploy-tests.sh builds a Debian bookworm base with mmdebstrap,
imports it with podman and passes its name in AUTH_SERVER_BASE_IMAGE.
Containers run with `--runtime runc --network host`, and CONTAINERS_CONF
names a containers.conf with `default_ulimits = []`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import jwt
import pytest

from conftest import (
    EXTERNAL_SECRETS,
    REPO,
    SEED_DOC_HELM_EXAMPLE,
    SEED_DOC_SERVICE_ACCOUNT,
    materialize_pod,
    merge,
)

IMAGE = "localhost/auth-server:deploy-test"
RUNTIME = ["--runtime", "runc"]

# The seed document's Helm example (my-service, its secret from a Secret the
# platform team creates, through extraEnvVars) and its service account, plus
# a managed platform client whose Secret the chart generates.
VALUES = merge(SEED_DOC_HELM_EXAMPLE, SEED_DOC_SERVICE_ACCOUNT)
VALUES["bootstrap"]["clients"]["my-platform-service"] = {"envVarName": "MY_PLATFORM_SERVICE_CLIENT_SECRET"}
VALUES["bootstrap"]["clients"]["confidential"].append(
    {
        "client_id": "my-platform-service",
        "client_name": "My Platform Service",
        "client_secret_env_var_name": "MY_PLATFORM_SERVICE_CLIENT_SECRET",
        "client_authentication_method": "client_secret_post",
        "scope": "write",
    }
)


@pytest.fixture(scope="session")
def podman_env(tmp_path_factory) -> dict[str, str]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed (scripts/deploy-tests.sh installs podman and runc)")
    env = dict(os.environ)
    if not env.get("CONTAINERS_CONF"):
        conf = tmp_path_factory.mktemp("podman") / "containers.conf"
        conf.write_text("[containers]\ndefault_ulimits = []\n")
        env["CONTAINERS_CONF"] = str(conf)
    return env


def podman(env, *args, check=True, timeout=300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"podman {' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def image(podman_env, auth_server_bin, tmp_path_factory) -> str:
    base = os.environ.get("AUTH_SERVER_BASE_IMAGE")
    if not base:
        pytest.fail("AUTH_SERVER_BASE_IMAGE is not set: scripts/deploy-tests.sh builds the base image and sets it")
    context = tmp_path_factory.mktemp("image-context")
    shutil.copy2(auth_server_bin, context / "auth-server")
    # One test image on the machine, however often the tests run: the old
    # one goes, and no intermediate stage is kept (--layers=false).
    podman(podman_env, "rmi", "--ignore", IMAGE)
    podman(
        podman_env,
        "build", *RUNTIME, "--network", "host", "--pull=never", "--layers=false",
        "-f", str(REPO / "deploy" / "Containerfile"),
        "--build-arg", f"BASE_IMAGE={base}",
        "-t", IMAGE, str(context),
        timeout=600,
    )
    return IMAGE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None):
    data = urllib.parse.urlencode(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture
def pod_files(render, tmp_path):
    """The chart's seeds for VALUES laid out under tmp_path, and the server
    container's environment with the chart's paths."""
    rendered = render(VALUES)
    env = materialize_pod(rendered, tmp_path, rewrite_paths=False)
    mounts = []
    for mount in rendered.server["volumeMounts"]:
        if mount["name"].startswith("seed-"):
            mounts += ["-v", f"{tmp_path / mount['mountPath'].lstrip('/')}:{mount['mountPath']}:ro"]
    return rendered, env, mounts


def container_args(tmp_path, env, mounts, bind):
    env_file = tmp_path / "pod.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {**env, "APP_BIND": bind}.items()))
    env_file.chmod(0o600)
    # The chart's emptyDir for SQLite: a fresh world-writable directory, as
    # Kubernetes makes one. (A podman 4.3 tmpfs over the image's existing
    # directory comes up owned by root with mode 0755, whatever mode= says.)
    data = tmp_path / "emptydir-data"
    data.mkdir()
    data.chmod(0o777)
    return [
        *RUNTIME, "--network", "host",
        # As the chart runs it: read-only root, no capabilities, no privilege
        # escalation, the image's own non-root user.
        "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "-v", f"{data}:/var/lib/auth-server",
        "--env-file", str(env_file), *mounts,
    ]


def test_image_runs_as_non_root_with_the_binary_as_entrypoint(podman_env, image):
    (config,) = json.loads(podman(podman_env, "image", "inspect", image).stdout)
    assert config["Config"]["User"] == "65532:65532"
    assert config["Config"]["Entrypoint"] == ["/usr/local/bin/auth-server"]
    assert config["Config"]["Cmd"] == ["serve"]
    assert "APP_BIND=0.0.0.0:8080" in config["Config"]["Env"]


def test_image_holds_only_the_binary_and_what_it_links_to(podman_env, image, auth_server_bin, tmp_path):
    needed = subprocess.run(["ldd", str(auth_server_bin)], capture_output=True, text=True, check=True).stdout
    sonames = {line.split()[0].rsplit("/", 1)[-1] for line in needed.splitlines() if "/" in line}
    assert {"libssl.so.3", "libpq.so.5"} <= sonames
    cid = podman(podman_env, "create", *RUNTIME, image).stdout.strip()
    try:
        podman(podman_env, "export", "-o", str(tmp_path / "rootfs.tar"), cid)
    finally:
        podman(podman_env, "rm", cid)
    with tarfile.open(tmp_path / "rootfs.tar") as tar:
        members = tar.getmembers()
    files = {m.name: m for m in members if not m.isdir()}
    assert "usr/local/bin/auth-server" in files
    assert not any(name in files for name in ("bin/sh", "usr/bin/sh", "usr/bin/dpkg", "usr/bin/apt", "usr/bin/bash"))
    config_files = {"etc/passwd", "etc/group", "etc/nsswitch.conf"}
    certificate_dirs = ("etc/ssl/", "usr/lib/ssl/", "usr/share/ca-certificates/")
    libraries = []
    for name, member in files.items():
        if name == "usr/local/bin/auth-server" or name in config_files or name.startswith(certificate_dirs):
            continue
        if name in ("lib", "lib64") and member.issym():
            continue
        assert name.startswith(("usr/lib/", "usr/lib64/")), f"unexpected file in the image: {name}"
        libraries.append(name.rsplit("/", 1)[-1])
    for lib in libraries:
        assert any(lib.startswith(soname) or soname.startswith(lib) for soname in sonames), f"{lib} is not linked"
    assert sonames <= set(libraries) | {"linux-vdso.so.1"}
    passwd = [m for m in members if m.name == "etc/passwd"][0]
    assert passwd.uid == 0
    writable = {m.name: m.uid for m in members if m.name in ("home/nonroot", "var/lib/auth-server")}
    assert writable == {"home/nonroot": 65532, "var/lib/auth-server": 65532}


def test_check_accepts_the_chart_seeds_inside_the_image(podman_env, image, pod_files, tmp_path):
    _, env, mounts = pod_files
    result = podman(
        podman_env, "run", "--rm", *container_args(tmp_path, env, mounts, "0.0.0.0:8080"), image, "check", check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:")


def test_container_issues_a_token_that_verifies_against_its_jwks(podman_env, image, pod_files, tmp_path):
    rendered, env, mounts = pod_files
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    name = f"auth-server-test-{uuid.uuid4().hex[:8]}"
    podman(podman_env, "run", "-d", "--name", name, *container_args(tmp_path, env, mounts, f"127.0.0.1:{port}"), image)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                status, _, _ = http("GET", f"{base}/readyz")
            except (urllib.error.URLError, ConnectionError):
                status = None
            if status == 200:
                break
            state = podman(podman_env, "inspect", name, "--format", "{{.State.Status}}").stdout.strip()
            if state != "running" or time.monotonic() > deadline:
                logs = podman(podman_env, "logs", name, check=False)
                pytest.fail(f"server not ready (state {state}, /readyz {status}):\n{logs.stdout}\n{logs.stderr}")
            time.sleep(0.5)
        assert http("GET", f"{base}/healthz")[0] == 200

        https = {"X-Forwarded-Proto": "https"}
        my_service_secret = EXTERNAL_SECRETS[("my-service-client-secret", "client_secret")]
        platform_secret = rendered.secret_value("my-platform-service-client-secret", "client_secret")
        form = {"grant_type": "client_credentials", "client_id": "my-service", "client_secret": my_service_secret}

        # Inside the mesh the transport is plain HTTP: without the forwarded
        # scheme the server refuses (APP_REQUIRE_HTTPS stays on).
        status, headers, body = http("POST", f"{base}/oauth2/token", form)
        assert status == 400 and json.loads(body)["error"] == "invalid_request"

        status, headers, body = http("POST", f"{base}/oauth2/token", dict(form, client_secret="wrong-secret-0123456789"), https)
        assert status == 401 and json.loads(body)["error"] == "invalid_client"

        status, headers, body = http("POST", f"{base}/oauth2/token", form, https)
        assert status == 200, body
        assert headers["Cache-Control"] == "no-store"
        issued = json.loads(body)
        assert issued["token_type"] == "Bearer" and issued["scope"] == "read" and issued["expires_in"] == 1800

        status, _, body = http("GET", f"{base}/.well-known/oauth-authorization-server", headers=https)
        assert status == 200
        metadata = json.loads(body)
        assert metadata["issuer"] == f"https://127.0.0.1:{port}"

        token = issued["access_token"]
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "at+jwt"
        key = jwt.PyJWKClient(f"{base}/oauth2/jwks", cache_keys=False).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, key.key, algorithms=[header["alg"]], audience="my-service", issuer=metadata["issuer"],
            options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]},
        )
        assert claims["client_id"] == "my-service"
        assert claims["sub"] == "svc-my-service"
        assert claims["scope"] == "read"
        assert claims["roles"] == ["USER"]
        assert claims["exp"] - claims["iat"] == 30 * 60
        # The managed client's secret, generated by the chart, works too.
        status, _, body = http(
            "POST", f"{base}/oauth2/token",
            {"grant_type": "client_credentials", "client_id": "my-platform-service", "client_secret": platform_secret},
            https,
        )
        assert status == 200, body
        assert jwt.decode(json.loads(body)["access_token"], key.key, algorithms=[header["alg"]], audience="my-platform-service")["scope"] == "write"

        # SIGTERM: the server drains and exits 0.
        podman(podman_env, "stop", "-t", "30", name)
        assert podman(podman_env, "inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip() == "0"
        logs = podman(podman_env, "logs", name)
        output = logs.stdout + logs.stderr
        assert "ready" in output
        for secret in (my_service_secret, platform_secret, token):
            assert secret not in output
    finally:
        podman(podman_env, "rm", "-f", "-t", "0", name, check=False)
