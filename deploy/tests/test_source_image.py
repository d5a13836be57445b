"""The multi-stage image (deploy/Containerfile.source): built from this
repository's sources in a builder stage, then packed by the same runtime
stage as deploy/Containerfile. The build compiles the release binary (the
cargo registry and target directory are build caches, so later runs only
compile what changed); the image must then issue a token that verifies.

The builder base comes from scripts/builder-image.sh (a Debian bookworm
image with this machine's Rust toolchain, since no registry is reachable),
the runtime base from AUTH_SERVER_BASE_IMAGE as for the other image."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import uuid

import jwt
import pytest

from conftest import EXTERNAL_SECRETS, REPO
from test_container import (  # noqa: F401  (fixtures used by name)
    RUNTIME,
    container_args,
    free_port,
    http,
    pod_files,
    podman,
    podman_env,
)

SOURCE_IMAGE = "localhost/auth-server:source-test"
CONTAINERFILE = REPO / "deploy" / "Containerfile"
SOURCE_CONTAINERFILE = REPO / "deploy" / "Containerfile.source"


def runtime_stage(text: str) -> str:
    """Everything from the runtime stage on."""
    return text[text.index("FROM ${BASE_IMAGE} AS runtime-files") :]


def test_the_runtime_stage_is_deploy_containerfiles():
    binary = runtime_stage(CONTAINERFILE.read_text())
    source = runtime_stage(SOURCE_CONTAINERFILE.read_text())
    assert source == binary.replace(
        "COPY auth-server /rootfs/usr/local/bin/auth-server",
        "COPY --from=builder /out/auth-server /rootfs/usr/local/bin/auth-server",
    ), "the runtime stages of deploy/Containerfile and deploy/Containerfile.source differ"
    assert "ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim" in SOURCE_CONTAINERFILE.read_text()


@pytest.fixture(scope="session")
def source_image(podman_env) -> str:
    base = os.environ.get("AUTH_SERVER_BASE_IMAGE")
    if not base:
        pytest.fail("AUTH_SERVER_BASE_IMAGE is not set: scripts/deploy-tests.sh builds the base image and sets it")
    made = subprocess.run(
        ["bash", str(REPO / "scripts" / "builder-image.sh")],
        env=podman_env, capture_output=True, text=True, timeout=1200, check=False,
    )
    if made.returncode != 0:
        pytest.fail(f"scripts/builder-image.sh failed:\n{made.stdout}\n{made.stderr}")
    builder = made.stdout.strip().splitlines()[-1]
    podman(podman_env, "rmi", "--ignore", SOURCE_IMAGE)
    started = time.monotonic()
    podman(
        podman_env,
        "build", *RUNTIME, "--network", "host", "--pull=never", "--layers=false",
        "-f", str(SOURCE_CONTAINERFILE),
        "--build-arg", f"BUILDER_IMAGE={builder}",
        "--build-arg", f"BASE_IMAGE={base}",
        "-t", SOURCE_IMAGE, str(REPO),
        timeout=3600,
    )
    print(f"multi-stage build: {time.monotonic() - started:.0f} s")
    return SOURCE_IMAGE


def test_the_source_image_runs_as_non_root_with_the_binary_as_entrypoint(podman_env, source_image):
    (config,) = json.loads(podman(podman_env, "image", "inspect", source_image).stdout)
    assert config["Config"]["User"] == "65532:65532"
    assert config["Config"]["Entrypoint"] == ["/usr/local/bin/auth-server"]
    assert config["Config"]["Cmd"] == ["serve"]


def test_the_source_image_issues_a_token_that_verifies(podman_env, source_image, pod_files, tmp_path):
    _, env, mounts = pod_files
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    name = f"auth-server-source-test-{uuid.uuid4().hex[:8]}"
    podman(podman_env, "run", "-d", "--name", name, *container_args(tmp_path, env, mounts, f"127.0.0.1:{port}"), source_image)
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

        secret = EXTERNAL_SECRETS[("my-service-client-secret", "client_secret")]
        form = {"grant_type": "client_credentials", "client_id": "my-service", "client_secret": secret}
        status, _, body = http("POST", f"{base}/oauth2/token", form, {"X-Forwarded-Proto": "https"})
        assert status == 200, body
        token = json.loads(body)["access_token"]
        header = jwt.get_unverified_header(token)
        key = jwt.PyJWKClient(f"{base}/oauth2/jwks", cache_keys=False).get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=[header["alg"]], audience="my-service")
        assert claims["client_id"] == "my-service" and claims["sub"] == "svc-my-service"

        podman(podman_env, "stop", "-t", "30", name)
        assert podman(podman_env, "inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip() == "0"
    finally:
        podman(podman_env, "rm", "-f", "-t", "0", name, check=False)
