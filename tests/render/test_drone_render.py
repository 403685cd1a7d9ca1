"""The drone role's rendered objects: server and runner wiring, RBAC scoped to the builds namespace, secrets.

The shared platform render has no OAuth2 client yet (the gitea role writes it in apply
mode); a second render of the drone role alone, with those files present as the gitea
role writes them, checks they reach the server's Secret.
"""

import base64
import json
import os
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml
from collection_defaults import collection_defaults

REPO = Path(__file__).resolve().parents[2]
# The collection's contracts and pins (role gauntlet's defaults).
DEFAULTS = collection_defaults()


def component(objects, name="drone"):
    found = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for p, o in objects.items() if p.parts[0] == name}  # fmt: skip
    assert found, f"the {name} component rendered nothing"
    return found


def secret(obj, key):
    return base64.b64decode(obj["data"][key]).decode()


def credential(credentials, name):
    return (credentials / name).read_text().strip()


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.fixture(scope="module")
def objects(platform_render):
    return component(platform_render.objects)


def server(objects):
    return objects[("Deployment", "drone", "drone")]["spec"]["template"]["spec"]


def runner(objects):
    return objects[("Deployment", "drone", "drone-runner")]["spec"]["template"]["spec"]


def test_namespaces_meshed_server_and_baseline_builds(objects, platform_render):
    drone = objects[("Namespace", None, "drone")]["metadata"]
    builds = objects[("Namespace", None, "drone-builds")]["metadata"]
    assert "drone" in platform_render.contracts["gauntlet_linkerd_inject_namespaces"]
    assert drone["annotations"]["linkerd.io/inject"] == "enabled"
    assert drone["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # kaniko builds as root without privileges: baseline, and no Linkerd proxy in build pods.
    assert builds["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert "annotations" not in builds


def test_server_environment(objects, platform_render):
    (container,) = server(objects)["containers"]
    env = env_of(container)
    assert env["DRONE_GITEA_SERVER"] == f"https://{platform_render.domains['gitea']}"
    assert env["DRONE_SERVER_HOST"] == platform_render.domains["drone"]
    assert env["DRONE_SERVER_PROTO"] == "https"
    assert env["DRONE_DATABASE_DRIVER"] == "sqlite3"
    data_mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["data"]
    assert env["DRONE_DATABASE_DATASOURCE"].startswith(data_mount + "/")
    assert env["DRONE_USER_FILTER"].split(",") == [DEFAULTS["gauntlet_gitea_org"], "gauntlet-ci"]
    assert container["envFrom"] == [{"secretRef": {"name": "drone-server"}}]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in server(objects)["volumes"]}
    (ca_volume,) = [n for n, path in mounts.items() if env["SSL_CERT_FILE"] == f"{path}/ca.crt"]
    configmap = objects[("ConfigMap", "drone", volumes[ca_volume]["configMap"]["name"])]
    assert configmap["data"]["ca.crt"] == (platform_render.credentials / "ca" / "ca.crt").read_text()
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert env["DRONE_SERVER_PORT"] == f":{port}"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_server_secrets_are_the_credential_files(objects, platform_render):
    creds = platform_render.credentials
    values = objects[("Secret", "drone", "drone-server")]
    rpc = credential(creds, "drone/rpc-secret")
    assert (
        secret(values, "DRONE_RPC_SECRET")
        == rpc
        == secret(objects[("Secret", "drone", "drone-runner")], "DRONE_RPC_SECRET")
    )
    assert secret(values, "DRONE_DATABASE_SECRET") == credential(creds, "drone/database-secret")
    assert len(secret(values, "DRONE_DATABASE_SECRET")) == 32  # Drone's AES-256 key
    assert secret(values, "DRONE_COOKIE_SECRET") == credential(creds, "drone/cookie-secret")
    fields = dict(item.split(":", 1) for item in secret(values, "DRONE_USER_CREATE").split(","))
    token = credential(creds, "drone/admin-token")
    assert fields == {"username": "gauntlet-ci", "machine": "false", "admin": "true", "token": token}
    assert len(token) == 32 and int(token, 16) >= 0
    # Not issued yet: the gitea role writes the OAuth2 client in apply mode.
    assert not (creds / "drone" / "gitea-client-id").exists()
    assert secret(values, "DRONE_GITEA_CLIENT_ID") == secret(values, "DRONE_GITEA_CLIENT_SECRET") == ""
    # Static clone credentials (harness/drone v2.25.0 service/netrc/netrc.go: used instead of the
    # activating account's token when both are set): the read-only account; its token is issued
    # by Gitea in apply mode, so the render has none yet.
    assert secret(values, "DRONE_GIT_USERNAME") == "drone-clone"
    assert secret(values, "DRONE_GIT_PASSWORD") == ""


def test_runner_talks_to_the_server_service(objects):
    (container,) = runner(objects)["containers"]
    env = env_of(container)
    name, namespace = env["DRONE_RPC_HOST"].split(".")[:2]
    service = objects[("Service", namespace, name)]
    assert env["DRONE_RPC_PROTO"] == "http"
    assert [p["port"] for p in service["spec"]["ports"]] == [80]
    labels = objects[("Deployment", "drone", "drone")]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert container["envFrom"] == [{"secretRef": {"name": "drone-runner"}}]


def test_probes_reach_the_process_not_the_linkerd_proxy(objects):
    # The drone namespace is meshed: every port of the pod is redirected to the
    # Linkerd proxy, which accepts TCP connections whether or not the process
    # listens (linkerd/linkerd2#7777), so a tcpSocket probe can never fail.
    # drone-runner-kube v1.0.0-rc.5 serves GET /healthz on DRONE_SERVER_PORT
    # (:3000) with or without a dashboard password (drone/runner-go v1.12.0,
    # handler/router/router.go; command/daemon/daemon.go mounts router.New).
    assert objects[("Namespace", None, "drone")]["metadata"]["annotations"]["linkerd.io/inject"] == "enabled"
    for spec in (server(objects), runner(objects)):
        (container,) = spec["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.get(kind)
            if probe is None:
                continue
            assert "tcpSocket" not in probe, f"{container['name']} {kind} is a TCP probe the proxy always answers"
            assert probe["httpGet"]["path"] == "/healthz"
            assert probe["httpGet"]["port"] in ports
    (runner_container,) = runner(objects)["containers"]
    assert {"readinessProbe", "livenessProbe"} <= runner_container.keys()
    ports = {p["name"]: p["containerPort"] for p in runner_container["ports"]}
    # Without DRONE_SERVER_PORT the runner listens on :3000 (command/daemon/config.go).
    assert "DRONE_SERVER_PORT" not in env_of(runner_container)
    assert ports[runner_container["livenessProbe"]["httpGet"]["port"]] == 3000


def test_runner_images_come_from_gauntlet_images(objects, platform_render):
    (container,) = runner(objects)["containers"]
    env = env_of(container)
    images = DEFAULTS["gauntlet_images"]
    assert env["DRONE_IMAGE_PLACEHOLDER"] == images["drone_placeholder"]
    assert env["DRONE_IMAGE_CLONE"] == images["drone_git"]
    listed = set(platform_render.images)
    assert {env["DRONE_IMAGE_PLACEHOLDER"], env["DRONE_IMAGE_CLONE"], container["image"]} <= listed


def test_runner_rbac_is_scoped_to_the_builds_namespace(objects):
    spec = runner(objects)
    (container,) = spec["containers"]
    builds = env_of(container)["DRONE_NAMESPACE_DEFAULT"]
    assert builds == "drone-builds"
    assert not [key for key in objects if key[0] in ("ClusterRole", "ClusterRoleBinding")]
    roles = [o for (kind, _unused, _unused), o in objects.items() if kind == "Role"]
    assert [r["metadata"]["namespace"] for r in roles] == [builds]
    (role,) = roles
    assert {res for rule in role["rules"] for res in rule["resources"]} == {"pods", "pods/log", "secrets"}
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    (binding,) = [o for (kind, _unused, _unused), o in objects.items() if kind == "RoleBinding"]
    assert binding["metadata"]["namespace"] == builds
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": "drone"}]
    build_sa = objects[("ServiceAccount", builds, env_of(container)["DRONE_SERVICE_ACCOUNT_DEFAULT"])]
    assert build_sa["automountServiceAccountToken"] is False
    assert objects[("LimitRange", builds, "drone-build-defaults")]["spec"]["limits"][0]["default"]


def test_build_steps_clone_through_the_in_cluster_gitea(objects, platform_render):
    (container,) = runner(objects)["containers"]
    env_file = env_of(container)["DRONE_RUNNER_ENV_FILE"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = {v["name"]: v for v in runner(objects)["volumes"]}[mounts[str(Path(env_file).parent)]]
    lines = objects[("ConfigMap", "drone", volume["configMap"]["name"])]["data"][Path(env_file).name].splitlines()
    values = {k: v.strip("'") for k, _unused, v in (line.partition("=") for line in lines if line)}
    internal = platform_render.contracts["gauntlet_gitea_internal_url"]
    assert values["GIT_CONFIG_COUNT"] == "2"
    assert values["GIT_CONFIG_KEY_0"] == f"url.{internal}/.insteadOf"
    assert values["GIT_CONFIG_VALUE_0"] == f"https://{platform_render.domains['gitea']}/"
    assert values["GIT_CONFIG_KEY_1"] == "credential.helper"


def step_env(objects):
    (container,) = runner(objects)["containers"]
    env_file = env_of(container)["DRONE_RUNNER_ENV_FILE"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = {v["name"]: v for v in runner(objects)["volumes"]}[mounts[str(Path(env_file).parent)]]
    lines = objects[("ConfigMap", "drone", volume["configMap"]["name"])]["data"][Path(env_file).name].splitlines()
    return {k: v.strip("'") for k, _unused, v in (line.partition("=") for line in lines if line)}


def run_credential_helper(helper, env):
    # Git runs a '!' helper as a shell command with the action appended (gitcredentials(7)).
    assert helper.startswith("!")
    result = subprocess.run(
        ["sh", "-c", helper[1:] + " get"],
        input="protocol=http\nhost=gitea-http.gitea.svc:3000\n\n",
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_clone_credentials_reach_the_clone_step_only(objects):
    # drone-runner-kube v1.0.0-rc.5: command/daemon/config.go reads DRONE_NETRC_CLONE_ONLY;
    # engine/compiler/compiler.go then gives DRONE_NETRC_* to step 0 (the clone step) only,
    # instead of every step and service of the pod.
    (container,) = runner(objects)["containers"]
    assert env_of(container)["DRONE_NETRC_CLONE_ONLY"] == "true"
    helper = step_env(objects)["GIT_CONFIG_VALUE_1"]
    # The env file reaches every step: its credential helper answers only where the runner put
    # the clone credentials (the clone step), and nothing in any other step.
    assert run_credential_helper(helper, {}) == {}
    assert run_credential_helper(helper, {"DRONE_NETRC_USERNAME": "", "DRONE_NETRC_PASSWORD": ""}) == {}
    given = {"DRONE_NETRC_USERNAME": "clone-user", "DRONE_NETRC_PASSWORD": "clone-secret"}
    assert run_credential_helper(helper, given) == {"username": "clone-user", "password": "clone-secret"}
    # No other variable of the step environment names the clone credentials.
    others = {k: v for k, v in step_env(objects).items() if k != "GIT_CONFIG_VALUE_1"}
    assert not [k for k, v in others.items() if "DRONE_NETRC" in k + v]


def test_ingress_reaches_the_server(objects, platform_render):
    ingress = objects[("Ingress", "drone", "drone")]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == platform_render.domains["drone"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "drone", "port": {"number": 80}}
    assert urllib.parse.urlsplit(f"https://{rule['host']}/login").path == "/login"


@pytest.fixture(scope="module")
def issued_render(platform_render, render_tools, tmp_path_factory):
    """The drone role alone, after the gitea role wrote the OAuth2 client (as gitea_oauth_app does)."""
    work = tmp_path_factory.mktemp("drone-issued")
    credentials = work / "credentials"
    shutil.copytree(platform_render.credentials, credentials)
    for name, value in (
        ("drone/gitea-client-id", "0f4c1a2b-client-id"),
        ("drone/gitea-client-secret", "gto_issued_by_gitea_0123"),
        ("gitea/clone-token", "0123456789abcdef0123456789abcdef01234567"),
        ("gitea/ci-token", "89abcdef0123456789abcdef0123456789abcdef"),
    ):
        (credentials / name).parent.mkdir(mode=0o700, exist_ok=True)
        (credentials / name).write_text(value + "\n")
        (credentials / name).chmod(0o600)
    out = work / "render"
    extra = json.loads(platform_render.args[1])
    extra.update(gauntlet_render_dir=str(out), gauntlet_credentials_dir=str(credentials))
    result = render_tools.run_playbook(REPO / "playbooks/platform.yml", "--tags", "drone", "-e", json.dumps(extra))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (out / "gitea").exists(), "--tags drone rendered another role"
    objects = {p.relative_to(out): yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yaml"))}
    return component(objects), credentials


def test_issued_oauth2_client_reaches_the_server_and_restarts_it(issued_render, objects):
    issued, credentials = issued_render
    values = issued[("Secret", "drone", "drone-server")]
    assert secret(values, "DRONE_GITEA_CLIENT_ID") == credential(credentials, "drone/gitea-client-id")
    assert secret(values, "DRONE_GITEA_CLIENT_SECRET") == credential(credentials, "drone/gitea-client-secret")
    # The read-only account's token (gitea role, scope read:repository) is the clone password.
    assert secret(values, "DRONE_GIT_USERNAME") == "drone-clone"
    assert secret(values, "DRONE_GIT_PASSWORD") == credential(credentials, "gitea/clone-token")
    before = objects[("Deployment", "drone", "drone")]["spec"]["template"]["metadata"]["annotations"]
    after = issued[("Deployment", "drone", "drone")]["spec"]["template"]["metadata"]["annotations"]
    assert before["gauntlet.dev/config-checksum"] != after["gauntlet.dev/config-checksum"]
    # Nothing else changes: the other secrets are the same credential files.
    assert secret(values, "DRONE_RPC_SECRET") == secret(
        objects[("Secret", "drone", "drone-server")], "DRONE_RPC_SECRET"
    )


# --- The gitops bump: outside Drone ---------------------------------------------------------
# Drone v2.25.0 gives every repository and organisation secret to every build that is not a
# pull request (operator/manager/manager.go), lets anyone with write access start a build
# labelled with any branch and commit (handler/api/repos/builds/create.go, `custom` event),
# promote any build (builds/promote.go) and sign any configuration (POST .../sign,
# CheckWriteAccess in handler/api/api.go); protected mode checks signatures of hook builds
# only (trigger/trigger.go). No Drone setting keeps a secret to reviewed main builds, so the
# token that writes gitops is given to no build: a CronJob of the platform holds it.
PROMOTE = ("CronJob", "drone", "drone-gitops-promote")


def promote_pod(objects):
    return objects[PROMOTE]["spec"]["jobTemplate"]["spec"]["template"]


def test_the_gitops_bump_runs_outside_drone(objects, platform_render):
    cronjob = objects[PROMOTE]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = promote_pod(objects)["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert objects[("ServiceAccount", "drone", pod["serviceAccountName"])]["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] in set(platform_render.images)
    env = env_of(container)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    # The script is the role's own file (never code from the task-api repository).
    script = Path(container["command"][-1])
    script_volume = volumes[mounts[str(script.parent)]]
    configmap = objects[("ConfigMap", "drone", script_volume["configMap"]["name"])]
    assert configmap["data"][script.name] == (REPO / "roles/drone/files/gitops_promote.py").read_text()
    # Main of task-api, after Drone's push build of it succeeded, into the gitops kustomization.
    kustomization = yaml.safe_load((REPO / "gitops/task-api/kustomization.yaml").read_text())
    assert env["SOURCE_REPO"] == f"{DEFAULTS['gauntlet_gitea_org']}/task-api"
    assert env["SOURCE_BRANCH"] == "main"
    assert env["STATUS_CONTEXT"] == "continuous-integration/drone/push"
    assert env["GITOPS_REPO"] == f"{DEFAULTS['gauntlet_gitea_org']}/gitops"
    assert env["GITOPS_BRANCH"] == "main"
    assert env["GITOPS_PATH"] == "task-api/kustomization.yaml"
    # A repository name, not an image reference (and not named like an image setting).
    assert env["REPOSITORY"] in [i["name"] for i in kustomization["images"]]
    assert not [name for name in env if "IMAGE" in name]
    assert env["GITEA_URL"] == platform_render.contracts["gauntlet_gitea_internal_url"]
    # Tokens as files from one Secret, not environment variables.
    for name in ("SOURCE_TOKEN_FILE", "GITOPS_TOKEN_FILE"):
        path = Path(env[name])
        volume = volumes[mounts[str(path.parent)]]
        assert volume["secret"]["secretName"] == "drone-gitops-promote"
        assert path.name in objects[("Secret", "drone", "drone-gitops-promote")]["data"]
    assert not [
        e for e in container.get("env", []) if "valueFrom" in e or ("TOKEN" in e["name"] and "FILE" not in e["name"])
    ]


def test_the_promoter_asks_the_registrys_push_record(objects):
    """A tag is deployed only if the registry recorded exactly one push of it (issue 18 items 1, 3)."""
    pod = promote_pod(objects)["spec"]
    (container,) = pod["containers"]
    env = env_of(container)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    registry = yaml.safe_load((REPO / "roles/registry/defaults/main.yml").read_text())
    # The registry token server (its certificate names registry.local), over HTTPS with the local CA.
    assert env["PUSHES_URL"] == f"https://registry.local:{registry['registry_token_port']}/pushes"
    ca = Path(env["PUSHES_CA_FILE"])
    assert volumes[mounts[str(ca.parent)]]["configMap"]["name"] == "gauntlet-local-ca"
    assert ca.name in objects[("ConfigMap", "drone", "gauntlet-local-ca")]["data"]
    # The nodes' pull-only account reads the record; only the CI account's pushes are deployed.
    assert env["PUSHES_USERNAME"] == DEFAULTS["gauntlet_registry_accounts"]["node"]["name"]
    assert env["PUSH_ACCOUNT"] == DEFAULTS["gauntlet_registry_accounts"]["ci"]["name"]
    password = Path(env["PUSHES_PASSWORD_FILE"])
    assert volumes[mounts[str(password.parent)]]["secret"]["secretName"] == "drone-gitops-promote"
    assert password.name in objects[("Secret", "drone", "drone-gitops-promote")]["data"]


def test_no_build_can_read_the_gitops_token(objects):
    # The Secret lives in the drone namespace; the runner's only grant is in drone-builds, and
    # there it can create and delete Secrets, never read them.
    assert objects[("Secret", "drone", "drone-gitops-promote")]["metadata"]["namespace"] == "drone"
    for (kind, namespace, _unused), obj in objects.items():
        if kind in ("Role", "ClusterRole"):
            for rule in obj["rules"]:
                if "secrets" in rule.get("resources", []):
                    assert not {"get", "list", "watch", "*"} & set(rule["verbs"]), obj["metadata"]["name"]
        if namespace == "drone-builds":
            assert "drone-gitops-promote" not in json.dumps(obj)


def test_the_gitops_token_is_the_bump_accounts(issued_render):
    issued, credentials = issued_render
    values = issued[("Secret", "drone", "drone-gitops-promote")]
    assert secret(values, "gitops-token") == credential(credentials, "gitea/ci-token")
    # Reads of task-api with the read-only clone account's token.
    assert secret(values, "source-token") == credential(credentials, "gitea/clone-token")
    # The push record with the nodes' pull-only registry account.
    assert secret(values, "registry-password") == credential(credentials, "registry/node-password")


# --- Main-only secrets: the secret extension ---------------------------------------------------
# Drone v2 repository secrets have no branch filter: registry_password is served by the
# extension (roles/drone/files/secret_extension.py) to push builds of main only. The runner
# asks it (drone-runner-kube v1.0.0-rc.5 command/daemon/config.go: DRONE_SECRET_PLUGIN_ENDPOINT,
# DRONE_SECRET_PLUGIN_TOKEN; command/daemon/daemon.go secret.External), not the server.
EXTENSION = ("Deployment", "drone", "drone-secret-extension")


def extension_pod(objects):
    return objects[EXTENSION]["spec"]["template"]["spec"]


def test_the_runner_asks_the_extension_through_its_service(objects):
    (container,) = runner(objects)["containers"]
    endpoint = urllib.parse.urlsplit(env_of(container)["DRONE_SECRET_PLUGIN_ENDPOINT"])
    name, namespace = endpoint.hostname.split(".")[:2]
    service = objects[("Service", namespace, name)]
    assert (endpoint.scheme, name, namespace) == ("http", "drone-secret-extension", "drone")
    (port,) = service["spec"]["ports"]
    assert port["port"] == endpoint.port
    labels = objects[EXTENSION]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (ext,) = extension_pod(objects)["containers"]
    assert {p["name"]: p["containerPort"] for p in ext["ports"]}[port["targetPort"]] == int(env_of(ext)["LISTEN_PORT"])
    # The token comes from the runner's Secret, never a plain environment value.
    assert "DRONE_SECRET_PLUGIN_TOKEN" not in env_of(container)
    assert "DRONE_SECRET_PLUGIN_TOKEN" in objects[("Secret", "drone", "drone-runner")]["data"]
    # The server has no such setting in v2.25.0: it would be ignored there.
    assert not [e for e in server(objects)["containers"][0]["env"] if "SECRET_PLUGIN" in e["name"]]


def test_the_extension_runs_the_roles_script_with_the_main_only_secrets(objects, platform_render):
    pod = extension_pod(objects)
    (container,) = pod["containers"]
    assert container["image"] in set(platform_render.images)
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = env_of(container)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    script = Path(container["command"][-1])
    configmap = objects[("ConfigMap", "drone", volumes[mounts[str(script.parent)]]["configMap"]["name"])]
    assert configmap["data"][script.name] == (REPO / "roles/drone/files/secret_extension.py").read_text()
    # Policy: push builds of main of task-api get registry_password, nothing else is listed.
    assert json.loads(env["POLICY"]) == {
        "branch": "main",
        "repos": {f"{DEFAULTS['gauntlet_gitea_org']}/task-api": ["registry_password"]},
    }
    # Token and values as files from the Secret drone-secret-extension, where the script reads them.
    values = objects[("Secret", "drone", "drone-secret-extension")]
    (token_volume,) = {v for v in mounts.values() if "secret" in volumes[v]}
    projected = volumes[token_volume]["secret"]
    assert projected["secretName"] == "drone-secret-extension"
    root = next(path for path, name in mounts.items() if name == token_volume)
    files = {f"{root}/{item['path']}": item["key"] for item in projected["items"]}
    assert files[env["TOKEN_FILE"]] == "token"
    assert files[f"{env['SECRETS_DIR']}/registry_password"] in values["data"]
    assert set(values["data"]) == {"token", "secret.registry_password"}
    assert secret(values, "token") == secret(objects[("Secret", "drone", "drone-runner")], "DRONE_SECRET_PLUGIN_TOKEN")
    assert secret(values, "token") == credential(platform_render.credentials, "drone/secret-extension-token")
    assert secret(values, "secret.registry_password") == credential(
        platform_render.credentials, DEFAULTS["gauntlet_registry_accounts"]["ci"]["credential"]
    )
    assert (platform_render.credentials / "drone/secret-extension-token").stat().st_mode & 0o777 == 0o600


def test_only_the_runner_reaches_the_extension(objects):
    (policy,) = [
        o
        for (kind, namespace, _unused), o in objects.items()
        if kind == "NetworkPolicy"
        and namespace == "drone"
        and o["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": "drone-secret-extension"}
    ]
    runner_labels = objects[("Deployment", "drone", "drone-runner")]["spec"]["template"]["metadata"]["labels"]
    # Egress: the namespace's default deny (its DNS and Linkerd rules only); this policy adds none.
    assert "Ingress" in policy["spec"]["policyTypes"]
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            assert "namespaceSelector" not in peer
            assert peer["podSelector"]["matchLabels"].items() <= runner_labels.items()
    assert not policy["spec"].get("egress")


def test_no_build_can_read_the_main_only_secrets(objects):
    for (_unused, namespace, _name), obj in objects.items():
        if namespace == "drone-builds":
            assert "drone-secret-extension" not in json.dumps(obj)
