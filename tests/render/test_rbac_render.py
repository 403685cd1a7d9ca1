"""Who can read Secrets, computed from every RBAC object the platform renders (review M2).

The evaluator (rbac.py) resolves bindings, aggregated roles and built-in roles; this test
holds the allow-list: every subject that may get/list/watch Secrets, where, and why. A
component that reads Secrets in every namespace can read the Linkerd issuer key
(kube-system/linkerd-identity-issuer), the `*.local` key (kube-system/gauntlet-default-tls)
and every database password, so nothing is allowed cluster-wide.

Limits: charts k3s's helm-controller installs (Traefik, Linkerd) are not rendered here, so
their RBAC is not seen; docs/security.md ("Secret access") lists what they hold.
"""

from rbac import ALL, Subject, excess, secret_readers


def sa(namespace, name):
    return Subject("ServiceAccount", name, namespace)


# subject -> {namespace: ALL or Secret names}, each with its reason.
ALLOWED = {
    # Argo CD keeps its settings, repository and cluster credentials as Secrets in its own
    # namespace (upstream Roles); it syncs the Task API and shows its objects, so it may
    # read in the destination namespace too (RoleBindings the argocd role adds).
    sa("argocd", "argocd-application-controller"): {"argocd": ALL, "task-api": ALL},
    sa("argocd", "argocd-server"): {"argocd": ALL, "task-api": ALL},
    sa("argocd", "argocd-applicationset-controller"): {"argocd": ALL},
    sa("argocd", "argocd-notifications-controller"): {"argocd": ALL},
    sa("argocd", "argocd-redis"): {"argocd": frozenset({"argocd-redis"})},
    # The operator writes Prometheus' and Alertmanager's generated configuration Secrets
    # and reads the ones they reference, in the namespace they run in.
    sa("monitoring", "prometheus-operator"): {"monitoring": ALL},
    # CloudNativePG manages the Secrets of the Clusters it watches (WATCH_NAMESPACE) and
    # its webhook certificate in its own namespace.
    sa("cnpg-system", "cnpg-manager"): {"cnpg-system": ALL, "database": ALL},
}


def test_only_allowed_subjects_read_secrets(platform_render):
    readers = secret_readers(platform_render.objects.values())
    problems = excess(readers, ALLOWED)
    assert not problems, "Secret access beyond the allow-list:\n" + "\n".join(problems)


def test_nothing_reads_secrets_in_every_namespace(platform_render):
    readers = secret_readers(platform_render.objects.values())
    everywhere = sorted(str(subject) for subject, namespaces in readers.items() if ALL in namespaces)
    assert everywhere == [], f"these read every Secret of the cluster: {everywhere}"
