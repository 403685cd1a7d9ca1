"""Who can read Secrets: a small RBAC evaluator over rendered objects.

It answers one question for the objects the platform renders: which subjects may get, list
or watch Secrets, in which namespaces, and (when a rule names them) which Secrets. It follows
the API server's RBAC authorizer (kubernetes/kubernetes pkg/registry/rbac/validation/rule.go
and plugin/pkg/auth/authorizer/rbac/rbac.go, read for this):

- a RoleBinding grants its Role, or a ClusterRole's rules, in its own namespace only; a
  ClusterRoleBinding grants a ClusterRole's rules in every namespace (`*` below);
- a ServiceAccount subject of a RoleBinding without a namespace is in the binding's
  namespace (appliesToUser);
- a rule matches when its apiGroups hold "" or "*", its resources "secrets" or "*", and its
  verbs the verb or "*"; `resourceNames` narrows it to those names (and makes list/watch of
  the collection impossible, RBAC's documented rule);
- a ClusterRole with an aggregationRule has the rules of every ClusterRole whose labels its
  selectors match (the clusterrole-aggregation controller fills them in).

Bindings may name ClusterRoles the API server creates itself (bootstrap policy,
plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go): their secret access is in
BUILTIN_SECRET_READERS, including what rendered ClusterRoles add to them through the
`aggregate-to-*` labels; built-in namespaced Roles (namespace_policy.go) are in
BUILTIN_ROLE_SECRET_READERS. A binding to any other role that is not rendered is an error:
the evaluator cannot judge what it does not see.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

READ_VERBS = ("get", "list", "watch")
ALL = "*"  # every namespace (ClusterRoleBinding), or every Secret of a namespace
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
# Built-in ClusterRoles (bootstrap policy) and whether they read Secrets. `view` does not
# (policy.go leaves secrets out of it on purpose); `edit` and `admin` aggregate it.
BUILTIN_SECRET_READERS = {
    "cluster-admin": True,
    "admin": True,
    "edit": True,
    "view": False,
    "system:auth-delegator": False,
    "system:aggregated-metrics-reader": False,
    "system:heapster": False,
    "system:discovery": False,
    "system:basic-user": False,
    "system:public-info-viewer": False,
}
# Built-in namespaced Roles (bootstrap policy, namespace_policy.go) and whether they read
# Secrets: extension-apiserver-authentication-reader reads the ConfigMap
# extension-apiserver-authentication only (aggregated API servers bind it: linkerd-viz's tap).
BUILTIN_ROLE_SECRET_READERS = {
    ("kube-system", "extension-apiserver-authentication-reader"): False,
}
# Labels that add a ClusterRole's rules to a built-in aggregated role (policy.go): admin
# aggregates edit, which aggregates view, so each takes the labels below it too.
_TO = "rbac.authorization.k8s.io/aggregate-to-"
BUILTIN_AGGREGATION = {
    "admin": (_TO + "admin", _TO + "edit", _TO + "view"),
    "edit": (_TO + "edit", _TO + "view"),
    "view": (_TO + "view",),
}


class RBACError(AssertionError):
    """RBAC the evaluator cannot judge (a binding to a role it does not see)."""


@dataclass(frozen=True, order=True)
class Subject:
    kind: str  # ServiceAccount, User or Group
    name: str
    namespace: str = ""

    def __str__(self):
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Grant:
    subject: Subject
    namespace: str  # ALL for every namespace
    names: frozenset | None  # None: every Secret; else only these names
    verbs: frozenset
    via: str  # "<binding kind> <namespace>/<name> -> <role kind> <name>"


def _match_labels(selector, labels):
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _secret_verbs(rule):
    """(verbs among get/list/watch, resourceNames or None) a rule grants on Secrets."""
    if rule.get("nonResourceURLs") and not rule.get("resources"):
        return frozenset(), None
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    if not ({"", ALL} & set(groups)) or not ({"secrets", ALL} & set(resources)):
        return frozenset(), None
    verbs = set(rule.get("verbs") or [])
    granted = frozenset(READ_VERBS) if ALL in verbs else frozenset(verbs & set(READ_VERBS))
    names = rule.get("resourceNames")
    if names:
        # A named rule cannot authorize list or watch of the collection (RBAC docs,
        # "Referring to resources").
        granted = frozenset(granted & {"get"}) or granted
        return granted, frozenset(names)
    return granted, None


class Evaluator:
    def __init__(self, objects):
        objects = [o for o in objects if o and o.get("kind") in RBAC_KINDS]
        self.cluster_roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"}
        self.roles = {
            (o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects if o["kind"] == "Role"
        }
        self.bindings = [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]

    def cluster_role_rules(self, name):
        """Rules of a rendered ClusterRole, aggregation resolved."""
        role = self.cluster_roles[name]
        aggregation = role.get("aggregationRule")
        if not aggregation:
            return list(role.get("rules") or [])
        rules = []
        for selector in aggregation.get("clusterRoleSelectors") or []:
            for other_name, other in sorted(self.cluster_roles.items()):
                if other_name != name and _match_labels(selector, other["metadata"].get("labels") or {}):
                    rules += other.get("rules") or []
        return rules

    def _builtin_rules(self, name):
        """Secret access of a built-in ClusterRole, plus rendered roles aggregated into it."""
        rules = []
        if BUILTIN_SECRET_READERS[name]:
            rules.append({"apiGroups": [""], "resources": ["secrets"], "verbs": list(READ_VERBS)})
        for other in self.cluster_roles.values():
            labels = other["metadata"].get("labels") or {}
            if any(labels.get(label) == "true" for label in BUILTIN_AGGREGATION.get(name, ())):
                rules += other.get("rules") or []
        return rules

    def _rules_of(self, binding):
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace", "")
        where = f"{binding['kind']} {namespace}/{binding['metadata']['name']}"
        if ref["kind"] == "Role":
            if binding["kind"] == "ClusterRoleBinding":
                raise RBACError(f"{where}: a ClusterRoleBinding cannot refer to a Role")
            if (namespace, ref["name"]) in BUILTIN_ROLE_SECRET_READERS and (namespace, ref["name"]) not in self.roles:
                secret_reader = BUILTIN_ROLE_SECRET_READERS[(namespace, ref["name"])]
                return (
                    [{"apiGroups": [""], "resources": ["secrets"], "verbs": list(READ_VERBS)}] if secret_reader else []
                )
            if (namespace, ref["name"]) not in self.roles:
                raise RBACError(f"{where} refers to Role {namespace}/{ref['name']}, which is not rendered")
            return self.roles[(namespace, ref["name"])].get("rules") or []
        if ref["name"] in self.cluster_roles:
            return self.cluster_role_rules(ref["name"])
        if ref["name"] in BUILTIN_SECRET_READERS:
            return self._builtin_rules(ref["name"])
        raise RBACError(
            f"{where} refers to ClusterRole {ref['name']}, which is neither rendered nor a known built-in role: "
            "add it to BUILTIN_SECRET_READERS from Kubernetes' bootstrap policy"
        )

    def secret_grants(self):
        """Every Grant of get/list/watch on Secrets, sorted."""
        grants = []
        for binding in self.bindings:
            namespace = binding["metadata"].get("namespace", "") if binding["kind"] == "RoleBinding" else ALL
            via = (
                f"{binding['kind']} {binding['metadata'].get('namespace', '')}/{binding['metadata']['name']}"
                f" -> {binding['roleRef']['kind']} {binding['roleRef']['name']}"
            )
            for rule in self._rules_of(binding):
                verbs, names = _secret_verbs(rule)
                if not verbs:
                    continue
                for subject in binding.get("subjects") or []:
                    subject_namespace = ""
                    if subject["kind"] == "ServiceAccount":
                        subject_namespace = subject.get("namespace") or binding["metadata"].get("namespace", "")
                    grants.append(
                        Grant(
                            Subject(subject["kind"], subject["name"], subject_namespace), namespace, names, verbs, via
                        )
                    )
        return sorted(grants, key=lambda g: (g.subject, g.namespace, sorted(g.names or []), g.via))


def secret_readers(objects):
    """{subject: {namespace (or ALL): ALL or frozenset of Secret names}} from rendered objects."""
    readers = defaultdict(dict)
    for grant in Evaluator(objects).secret_grants():
        current = readers[grant.subject].get(grant.namespace)
        if grant.names is None or current == ALL:
            readers[grant.subject][grant.namespace] = ALL
        else:
            readers[grant.subject][grant.namespace] = (current or frozenset()) | grant.names
    return {subject: dict(namespaces) for subject, namespaces in readers.items()}


def excess(readers, allowed):
    """Readers beyond `allowed` ({subject: {namespace: ALL or names}}), as sentences."""
    problems = []
    for subject, namespaces in sorted(readers.items()):
        permitted = allowed.get(subject, {})
        for namespace, names in sorted(namespaces.items()):
            ok = permitted.get(namespace)
            if ok == ALL or (ok is not None and names != ALL and names <= ok):
                continue
            where = "every namespace" if namespace == ALL else f"namespace {namespace}"
            what = "every Secret" if names == ALL else f"Secrets {sorted(names)}"
            problems.append(f"{subject} can read {what} in {where}")
    return problems
