"""What k3s puts into a cluster before the platform's stages run, on the control-plane tier.

The control plane of tests/controlplane.py is a bare Kubernetes; a k3s server adds its own
objects first. This module adds the ones the platform's k3s and platform stages rely on,
from the upstream copies (tests/upstream.py, never copied into the repository):

- a simulated (kwok) Node for every host of the inventory's k3s_cluster group, named
  ``k3s_node_name`` (default: the inventory host name, roles/k3s/defaults/main.yml), with the
  labels k3s sets on a server (k3s pkg/server/server.go: ``node-role.kubernetes.io/control-plane``
  and ``.../master`` "true", ``.../etcd`` "true" on an embedded-etcd server, which every server of
  this platform is: the first one runs ``cluster-init``), the labels and taints the inventory
  gives (``k3s_node_labels``, ``k3s_node_taints``, ``k3s_server_taint``: roles/k3s/vars/main.yml);
- the HelmChart and HelmChartConfig CRDs of k3s's helm-controller v0.17.7
  (helm-controller/crds/, VERSIONS.md §11): k3s registers them itself, unlabelled;
- the CRDs of the ``traefik-crd`` release (Traefik chart v40.1.0 ``crds/``: traefik.io,
  hub.traefik.io and the Gateway API standard set, VERSIONS.md §12) stamped as Helm stamps
  the objects of a release (``app.kubernetes.io/managed-by: Helm``, ``meta.helm.sh/release-name:
  traefik-crd``, ``meta.helm.sh/release-namespace: kube-system``; helm pkg/action/validate.go,
  and plugins/module_utils/k8s/gateway_api.py, which reads them);
- the ``traefik`` and ``traefik-crd`` HelmChart objects of k3s's manifests/traefik.yaml (the
  upstream copy's spec; k3s's deploy controller applies that file).

helm-controller itself does not run here: no HelmChart is ever installed, so no Traefik
Deployment, no TLSStore and no ``chart-values-*`` Secret appear (docs/testing.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import upstream
import yaml

REPO = Path(__file__).resolve().parent.parent
HELM_CONTROLLER_CRDS = "helm-controller/crds/*.yaml"
TRAEFIK_CRD_FILES = "traefik-helm-chart/v40.1.0/traefik/crds/*.yaml"
K3S_TRAEFIK_MANIFEST = "k3s/commit-68de387/manifests/traefik.yaml"
HELM_RELEASE = {
    "labels": {"app.kubernetes.io/managed-by": "Helm"},
    "annotations": {"meta.helm.sh/release-name": "traefik-crd", "meta.helm.sh/release-namespace": "kube-system"},
}

# Per k3s host: the values k3s turns into node labels and taints.
NODES_PLAYBOOK = """---
- name: Write what k3s makes of each node
  hosts: k3s_cluster
  gather_facts: false
  tasks:
    - name: Write it as JSON
      ansible.builtin.copy:
        content: >-
          {{ {'name': k3s_node_name | default(inventory_hostname),
              'address': node_ip | default(ansible_host | default('')),
              'server': inventory_hostname in groups['k3s_servers'],
              'labels': k3s_node_labels | default([]),
              'taints': k3s_node_taints | default([]),
              'server_taint': (k3s_server_taint | default(false)) | bool,
              'server_taint_value': k3s_server_taint_value | default(__default_server_taint)} | to_nice_json }}
        dest: "{{ __dest }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
"""


def ansible_env(**extra: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        **extra,
    }


def _taint(text: str) -> dict:
    """key=value:Effect (or key:Effect), as k3s --node-taint takes it."""
    match = re.fullmatch(r"([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)", text)
    assert match, f"not a taint: {text!r}"
    taint = {"key": match[1], "effect": match[3]}
    if match[2]:
        taint["value"] = match[2]
    return taint


def inventory_nodes(inventory: Path, work: Path) -> list[dict]:
    """The Node objects k3s would register for the inventory's k3s_cluster hosts."""
    defaults = yaml.safe_load((REPO / "roles/k3s/defaults/main.yml").read_text())
    work.mkdir(parents=True, exist_ok=True)
    (work / "nodes.yml").write_text(NODES_PLAYBOOK)
    extra = {"__dest": str(work), "__default_server_taint": defaults["k3s_server_taint_value"]}
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(work / "nodes.yml"), "-e", json.dumps(extra)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(),
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    nodes = []
    for path in sorted(work.glob("*.json")):
        host = json.loads(path.read_text())
        labels = {
            "kubernetes.io/hostname": host["name"],
            # k3s's embedded cloud provider (pkg/cloudprovider/instances.go)
            "node.kubernetes.io/instance-type": "k3s",
        }
        if host["server"]:
            labels |= {
                "node-role.kubernetes.io/control-plane": "true",
                "node-role.kubernetes.io/master": "true",
                "node-role.kubernetes.io/etcd": "true",
            }
        for item in host["labels"]:
            key, _sep, value = item.partition("=")
            labels[key] = value
        taints = [_taint(t) for t in host["taints"]]
        if host["server"] and host["server_taint"]:
            taints.append(_taint(host["server_taint_value"]))
        nodes.append({"name": host["name"], "labels": labels, "taints": taints, "address": host["address"]})
    return nodes


def _documents(pattern: str) -> list[dict]:
    docs = []
    for path in upstream.glob(pattern):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def k3s_objects() -> list[dict]:
    """The CRDs and HelmCharts of k3s itself, in apply order (CRDs first)."""
    crds = [d for d in _documents(HELM_CONTROLLER_CRDS) if d["kind"] == "CustomResourceDefinition"]
    for doc in _documents(TRAEFIK_CRD_FILES):
        if doc["kind"] != "CustomResourceDefinition":
            continue  # kustomization.yaml
        meta = doc["metadata"]
        meta["labels"] = {**(meta.get("labels") or {}), **HELM_RELEASE["labels"]}
        meta["annotations"] = {**(meta.get("annotations") or {}), **HELM_RELEASE["annotations"]}
        crds.append(doc)
    charts = [d for d in _documents(K3S_TRAEFIK_MANIFEST) if d["kind"] == "HelmChart"]
    return crds + charts


def install_k3s(plane, nodes: list[dict]) -> dict:
    """Registers the nodes and applies k3s's own objects; waits for every CRD to be Established."""
    for node in nodes:
        # The inventory's node_ip: no route leads there from the namespace (only loopback is up).
        plane.add_node(node["name"], labels=node["labels"], taints=node["taints"], address=node["address"])
    objects = k3s_objects()
    crds = plane.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    names = []
    for obj in objects:
        if obj["kind"] != "CustomResourceDefinition":
            continue
        # server-side: some CRDs are too large for the last-applied annotation
        crds.server_side_apply(body=obj, field_manager="k3s", force_conflicts=True)
        names.append(obj["metadata"]["name"])
    plane.wait_established(names)
    charts = plane.resource("helm.cattle.io/v1", "HelmChart")
    for obj in objects:
        if obj["kind"] == "HelmChart":
            charts.server_side_apply(
                body=obj, namespace=obj["metadata"]["namespace"], field_manager="k3s", force_conflicts=True
            )
    return {"crds": len(names), "nodes": len(nodes), "helmcharts": sum(o["kind"] == "HelmChart" for o in objects)}


# --- running playbooks against it -----------------------------------------------------------

_TASK = re.compile(r"^TASK \[(.*)\] \*+$")
_RESULT = re.compile(r"^(ok|changed|skipping|failed|fatal|included): \[([^\]]+)\]")
_RECAP = re.compile(
    r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)"
)


class Run:
    """One ansible-playbook run: its output, recap, the tasks that changed, the time it took."""

    def __init__(self, argv: list[str], result: subprocess.CompletedProcess, seconds: float):
        self.argv = argv
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.seconds = seconds
        self.recap: dict[str, dict[str, int]] = {}
        self.changed_tasks: list[str] = []
        self.failed_tasks: list[str] = []  # with no_log items, the output names only the task
        self.applied: dict[str, int] = {}  # task name -> loop items reported (ok or changed)
        task = None
        for line in self.stdout.splitlines():
            if m := _TASK.match(line):
                task = m[1]
                continue
            if m := _RECAP.match(line):
                keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
                self.recap[m[1]] = dict(zip(keys, map(int, m.groups()[1:]), strict=True))
                continue
            if m := _RESULT.match(line):
                if m[1] == "changed" and task not in self.changed_tasks:
                    self.changed_tasks.append(task)
                if m[1] in ("failed", "fatal") and task not in self.failed_tasks:
                    self.failed_tasks.append(task)
                applied = task and task.endswith("apply | Each object applied") and "(item=" in line
                if applied and m[1] in ("ok", "changed"):
                    self.applied[task] = self.applied.get(task, 0) + 1

    @property
    def changed(self) -> int:
        return sum(r["changed"] for r in self.recap.values())

    @property
    def objects_applied(self) -> int:
        return sum(self.applied.values())

    def explain(self) -> str:
        return (
            f"{' '.join(self.argv)}\nrc={self.returncode}\nfailed tasks: {self.failed_tasks}\n"
            f"changed tasks: {self.changed_tasks}\n{self.stdout[-12000:]}\n{self.stderr[-3000:]}"
        )


def run_playbook(plane, inventory: Path, playbook: str, *args: str, timeout: float = 1800) -> Run:
    """ansible-playbook inside the control plane's network namespace, from the repository root."""
    argv = ["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks" / playbook), *args]
    # kubernetes.core keeps the API server's discovery in a cache file under the temporary
    # folder, keyed by the server's address, which every control plane of the tier shares
    # (127.0.0.1:6443): a cache left by another control plane names kinds this one does not
    # serve (requests for them answer "404 page not found"). One temporary folder per cluster.
    tmp = plane.dir / "tmp"
    tmp.mkdir(exist_ok=True)
    began = time.monotonic()
    result = plane.run(*argv, timeout=timeout, cwd=REPO, env=ansible_env(TMPDIR=str(tmp)))
    return Run(argv, result, time.monotonic() - began)


# --- every object the API server holds ------------------------------------------------------

# Events come and go with every controller's work (a Node's, a Pod's): they are records of
# what happened, not objects anybody applied, and the API server expires them by itself.
SNAPSHOT_SKIP = {("", "events"), ("events.k8s.io", "events")}


def _get_json(plane, path: str, timeout: float = 60) -> dict:
    """GET an API path; a 429 or 503 (the API server busy, or a new kind's storage not ready)
    is asked again for up to ``timeout`` seconds, then fails naming the path."""
    import urllib.error

    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(plane.get(path))
        except urllib.error.HTTPError as error:
            if error.code not in (429, 503) or time.monotonic() > deadline:
                raise AssertionError(f"GET {path}: {error.code} {error.read()[:500]!r}") from error
            time.sleep(1)


def served_resources(plane) -> list[tuple[str, str, str, bool]]:
    """Every resource type the API server serves with the list verb, through discovery
    (/api and /apis, each group at its preferred version): (group, version, plural, namespaced)."""
    versions = [("", "v1", "/api/v1")]
    for group in _get_json(plane, "/apis")["groups"]:
        preferred = group["preferredVersion"]["version"]
        versions.append((group["name"], preferred, f"/apis/{group['name']}/{preferred}"))
    served = []
    for group, version, path in versions:
        for resource in _get_json(plane, path)["resources"]:
            if "/" in resource["name"] or "list" not in resource.get("verbs", []):
                continue  # subresources (pods/log, ...) and kinds that cannot be listed
            served.append((group, version, resource["name"], resource["namespaced"]))
    return served


def snapshot(plane) -> set[tuple[str, str, str, str]]:
    """Every object of every served resource type (Events aside, SNAPSHOT_SKIP), as
    (group, plural, namespace or '', name)."""
    objects = set()
    for group, version, plural, _namespaced in served_resources(plane):
        if (group, plural) in SNAPSHOT_SKIP:
            continue
        path = f"/api/{version}/{plural}" if not group else f"/apis/{group}/{version}/{plural}"
        for item in _get_json(plane, path)["items"]:
            meta = item["metadata"]
            objects.add((group, plural, meta.get("namespace", ""), meta["name"]))
    return objects


def made_since(before: set, now: set) -> set:
    """The objects in ``now`` that ``before`` did not hold, leaving out what kube-controller-manager
    makes by itself, at its own pace, in namespaces that were already there: each namespace's
    ``kube-root-ca.crt`` ConfigMap and ``default`` ServiceAccount, and one ServiceAccount per
    controller in kube-system (--use-service-account-credentials; a controller gets its account
    when it starts, which may be after ``before`` was taken). In a namespace made since ``before``
    these count: whoever made the namespace must also remove them with it."""
    old_namespaces = {name for _group, plural, _ns, name in before if plural == "namespaces"}

    def controller_made(key) -> bool:
        group, plural, namespace, name = key
        if group or namespace not in old_namespaces:
            return False
        return (plural, name) in (("configmaps", "kube-root-ca.crt"), ("serviceaccounts", "default")) or (
            plural == "serviceaccounts" and namespace == "kube-system"
        )

    return {key for key in now - before if not controller_made(key)}


def assert_unchanged(run: Run) -> None:
    """The run succeeded and changed nothing: no task reported changed, every recap changed=0."""
    assert run.returncode == 0, run.explain()
    assert run.changed_tasks == [], run.explain()
    assert all(r["changed"] == 0 for r in run.recap.values()), run.recap


def report_runs(runs: dict[str, Run], record_property) -> None:
    """Prints each run's time, changes and objects applied (seen with -rP), records the times as
    test properties, and checks the first run and the rerun applied the same objects."""
    for name, run in runs.items():
        print(f"{name}: {run.seconds:.1f} s, changed={run.changed}, objects applied={run.objects_applied}")
        record_property(f"{name}_seconds", round(run.seconds, 1))
    assert runs["first"].objects_applied == runs["second"].objects_applied > 0
