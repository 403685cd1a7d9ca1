"""Apply benchmark: gauntlet.platform.k8s_apply (the whole list in one action) against one
kubernetes.core.k8s run per object (how roles/k8s_objects applied until session 7), on the
real control plane of the cluster tier (tests/controlplane.py, in a loopback-only network
namespace; build it with scripts/build-controlplane).

Run on demand (not collected by pytest), as root (network namespaces):

    .venv/bin/python tests/bench/bench_k8s_apply.py [--objects 120] [--crs 20]

Both ways apply the same kind of list, each into names of its own: a CustomResourceDefinition
with --crs custom resources, a Namespace, and --objects ConfigMaps, Services and
ServiceAccounts. Each way runs twice: the first apply (everything created) and the rerun
(everything converged: what users pay for every --tags rerun). Printed: wall seconds of each
run and the ratio batch/loop beside it; target: the converged rerun at most 0.3x the loop's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from controlplane import REPO, ControlPlane, binaries, require_netns, running  # noqa: E402
from k3s_cluster import ansible_env  # noqa: E402

LOOP_PLAY = """
- name: One kubernetes.core.k8s run per object
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply every object
      kubernetes.core.k8s:
        kubeconfig: "{{ kubeconfig }}"
        definition: "{{ item }}"
        state: present
        apply: true
      loop: "{{ objects }}"
      loop_control:
        label: "{{ item.kind }}/{{ item.metadata.name }}"
"""

BATCH_PLAY = """
- name: The whole list in one action
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply every object
      gauntlet.platform.k8s_apply:
        kubeconfig: "{{ kubeconfig }}"
        component: bench
        objects: "{{ objects }}"
"""


def object_list(way: str, count: int, crs: int) -> list[dict]:
    """A CRD and its custom resources, a Namespace, and ``count`` plain objects, named by ``way``."""
    group = f"{way}.bench.gauntlet.test"
    namespace = f"bench-{way}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    objects = [crd, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    for i in range(count):
        meta = {"name": f"obj-{i}", "namespace": namespace, "labels": {"app.kubernetes.io/name": "bench"}}
        kind = i % 3
        if kind == 0:
            objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"n": str(i)}})
        elif kind == 1:
            spec = {"selector": {"app": f"obj-{i}"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
            objects.append({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
        else:
            objects.append(
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False}
            )
    for i in range(crs):
        widget = {"name": f"widget-{i}", "namespace": namespace}
        objects.append({"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": widget, "spec": {"size": i}})
    return objects


def play(plane: ControlPlane, work: Path, way: str, text: str, objects: list[dict]) -> float:
    playbook = work / f"{way}.yml"
    playbook.write_text(text)
    variables = work / f"{way}-vars.yml"
    variables.write_text(yaml.safe_dump({"objects": objects, "kubeconfig": str(plane.kubeconfig)}))
    began = time.monotonic()
    result = plane.run(
        "ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook), "-e", f"@{variables}",
        "-e", f"ansible_python_interpreter={sys.executable}",
        timeout=3600, cwd=REPO, env=ansible_env(TMPDIR=str(work)),
    )  # fmt: skip
    seconds = time.monotonic() - began
    if result.returncode != 0:
        sys.exit(
            f"{way}: ansible-playbook failed (rc {result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--objects", type=int, default=120, help="plain objects per way (default 120)")
    parser.add_argument("--crs", type=int, default=20, help="custom resources per way (default 20)")
    args = parser.parse_args()
    require_netns()
    with tempfile.TemporaryDirectory(prefix="bench-k8s-apply-") as tmp:
        work = Path(tmp)
        with running(ControlPlane(binaries(), work / "controlplane", name="gauntlet-bench-apply")) as plane:
            ways = {"loop": LOOP_PLAY, "batch": BATCH_PLAY}
            lists = {way: object_list(way, args.objects, args.crs) for way in ways}
            total = len(lists["loop"])
            times: dict[tuple[str, str], float] = {}
            for run in ("first", "rerun"):
                for way, text in ways.items():
                    times[(way, run)] = play(plane, work, way, text, lists[way])
            print(f"{total} objects per way (1 CRD, {args.crs} custom resources, 1 Namespace, {args.objects} others)")
            print(f"{'run':<8}{'loop s':>10}{'batch s':>10}{'batch/loop':>12}")
            for run in ("first", "rerun"):
                loop, batch = times[("loop", run)], times[("batch", run)]
                print(f"{run:<8}{loop:>10.1f}{batch:>10.1f}{batch / loop:>11.2f}x")
            rerun_ratio = times[("batch", "rerun")] / times[("loop", "rerun")]
            print(
                f"target: converged rerun <= 0.3x the loop's: {'met' if rerun_ratio <= 0.3 else 'NOT met'} ({rerun_ratio:.2f}x)"
            )


if __name__ == "__main__":
    main()
