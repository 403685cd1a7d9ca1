# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Action of gauntlet.platform.k8s_apply (docs in plugins/modules/k8s_apply.py).

Applies a whole list of objects with kubernetes.core.k8s in two module runs instead of one
per object: one Python start, one client and one API discovery for the list. A loop of one
module run per object spent about 3 s per object (the platform stage's 228 objects took
over 10 minutes to compare with a converged cluster); the API work itself is milliseconds.

CustomResourceDefinitions go first, in a run that waits until the API server reports each
one Established: a custom resource of a new kind is refused (404) until then, and the rest
of the list is applied right after it.

The result keeps what a per-object loop showed: which objects changed (``objects``), each
object's diff under its own header (``diff``, shown by --diff), and each refused object
with the API server's answer (``refused``). The objects themselves (Secrets among them)
are not returned.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

CRD_KIND = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
# kubernetes.core's waiter checks status.conditions for this; it polls every wait_sleep seconds
# (default 5, per CRD: a new CRD is usually Established within a second).
ESTABLISHED = {"type": "Established", "status": "True"}
WEBHOOK_HINT = (
    "An admission webhook refused it: the Service it names must have a running backend that answers "
    "(its operator pod), or the webhook configuration must go (playbooks/remove.yml removes those of the platform)."
)


def object_label(obj: dict) -> str:
    """Kind/namespace/name, '-' for a cluster-scoped object."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def split_definitions(objects: list[dict]) -> tuple[list[dict], list[dict]]:
    """(CustomResourceDefinitions, everything else), each in the list's order."""
    crds = [o for o in objects if (o.get("apiVersion"), o.get("kind")) == CRD_KIND]
    rest = [o for o in objects if (o.get("apiVersion"), o.get("kind")) != CRD_KIND]
    return crds, rest


def per_object_results(module_result: dict, count: int) -> list[dict]:
    """kubernetes.core.k8s answers one definition with that definition's result, and several
    with {"result": {"results": [...]}}, one per definition in order."""
    if count == 1:
        return [module_result]
    return list((module_result.get("result") or {}).get("results") or [])


def summarize(definitions: list[dict], results: list[dict]) -> dict:
    """What the action returns for one module run: each object's label and change, the diffs
    of the changed ones under their labels, and the refused ones with the API server's answer."""
    objects, diffs, refused = [], [], []
    for obj, res in zip(definitions, results, strict=True):
        label = object_label(obj)
        if "error" in res:
            refused.append({"object": label, "msg": str(res["error"].get("msg", "no answer")).strip()})
            continue
        changed = bool(res.get("changed"))
        objects.append({"object": label, "changed": changed, "method": res.get("method", "")})
        diff = res.get("diff")
        if changed and isinstance(diff, dict) and ("before" in diff or "after" in diff):
            diffs.append(
                {
                    "before": diff.get("before") or {},
                    "after": diff.get("after") or {},
                    "before_header": label,
                    "after_header": label,
                }
            )
    return {"objects": objects, "diff": diffs, "refused": refused}


def refused_message(component: str, refused: list[dict]) -> str:
    """One message naming each refused object and why; the webhook hint when a webhook refused."""
    lines = [f"{component}: the cluster refused {len(refused)} object(s)."]
    lines += [f"{r['object']}: {r['msg']}." for r in refused]
    if any("failed calling webhook" in r["msg"] for r in refused):
        lines.append(WEBHOOK_HINT)
    return " ".join(lines)


class ActionModule(ActionBase):
    """Applies the list (CustomResourceDefinitions first, waited for), reports per object."""

    _VALID_ARGS = frozenset(("kubeconfig", "objects", "server_side_apply", "component", "crd_wait_timeout"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        objects = args.get("objects") or []
        component = args.get("component") or "k8s_apply"
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            return {
                **result,
                "failed": True,
                "msg": f"{component}: objects must be a list of Kubernetes objects (dicts).",
            }
        common = {"kubeconfig": args.get("kubeconfig"), "state": "present", "apply": True, "continue_on_error": True}
        if args.get("server_side_apply"):
            common["server_side_apply"] = args["server_side_apply"]
        crds, rest = split_definitions(objects)
        phases = [
            (
                crds,
                {
                    "wait": True,
                    "wait_condition": ESTABLISHED,
                    "wait_sleep": 1,
                    "wait_timeout": int(args.get("crd_wait_timeout", 120)),
                },
            ),
            (rest, {}),
        ]
        report = {"objects": [], "diff": [], "refused": []}
        warnings = []
        for definitions, extra in phases:
            if not definitions:
                continue
            answer = self._execute_module(
                module_name="kubernetes.core.k8s",
                module_args={**common, **extra, "definition": definitions},
                task_vars=task_vars,
            )
            if answer.get("failed"):  # the module itself failed: no client, no cluster, bad kubeconfig
                return {
                    **result,
                    "failed": True,
                    "msg": f"{component}: {answer.get('msg', 'kubernetes.core.k8s failed')}",
                }
            warnings += answer.get("warnings") or []
            part = summarize(definitions, per_object_results(answer, len(definitions)))
            for key in report:
                report[key] += part[key]
            if part["refused"]:  # a CRD refused: its custom resources would be refused too
                break
        result.update(report)
        result["changed"] = any(o["changed"] for o in report["objects"])
        if warnings:
            result["warnings"] = warnings
        if report["refused"]:
            result["failed"] = True
            result["msg"] = refused_message(component, report["refused"])
        return result
