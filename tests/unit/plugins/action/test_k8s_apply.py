"""The pure parts of the k8s_apply action: order, per-object results, diffs, refusals.
Its apply against a real API server is exercised by every module of tests/cluster."""

from ansible_collections.gauntlet.platform.plugins.action.k8s_apply import (
    object_label,
    per_object_results,
    refused_message,
    split_definitions,
    summarize,
)

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "a.example.io"},
}
NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "db"}}
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "db"}}
CR = {"apiVersion": "example.io/v1", "kind": "A", "metadata": {"name": "x", "namespace": "db"}}


def test_crds_go_first_and_the_rest_keeps_its_order():
    crds, rest = split_definitions([NS, CR, CRD, CM])
    assert crds == [CRD]
    assert rest == [NS, CR, CM]


def test_labels_say_cluster_scoped_with_a_dash():
    assert object_label(NS) == "Namespace/-/db"
    assert object_label(CM) == "ConfigMap/db/c"


def test_one_definition_is_answered_with_its_own_result():
    answer = {"changed": True, "method": "create", "result": {"kind": "Namespace"}}
    assert per_object_results(answer, 1) == [answer]
    many = {"changed": True, "result": {"results": [{"changed": True}, {"changed": False}]}}
    assert per_object_results(many, 2) == [{"changed": True}, {"changed": False}]


def test_summary_keeps_changes_diffs_under_headers_and_refusals():
    results = [
        {"changed": False, "method": "apply", "result": {"data": {"secret": "s3cr3t"}}},
        {"changed": True, "method": "apply", "diff": {"before": {"data": {"a": "1"}}, "after": {"data": {"a": "2"}}}},
        {"changed": False, "error": {"msg": 'Failed to apply object: failed calling webhook "v.cnpg.io" '}},
    ]
    summary = summarize([NS, CM, CR], results)
    assert summary["objects"] == [
        {"object": "Namespace/-/db", "changed": False, "method": "apply"},
        {"object": "ConfigMap/db/c", "changed": True, "method": "apply"},
    ]
    assert summary["diff"] == [
        {
            "before": {"data": {"a": "1"}},
            "after": {"data": {"a": "2"}},
            "before_header": "ConfigMap/db/c",
            "after_header": "ConfigMap/db/c",
        }
    ]
    assert summary["refused"] == [
        {"object": "A/db/x", "msg": 'Failed to apply object: failed calling webhook "v.cnpg.io"'}
    ]
    assert "s3cr3t" not in repr(summary)  # the applied objects are not returned


def test_refusal_message_names_each_object_and_the_webhook_fix():
    refused = [{"object": "A/db/x", "msg": "failed calling webhook v.cnpg.io: network is unreachable"}]
    msg = refused_message("cnpg", refused)
    assert msg.startswith("cnpg: the cluster refused 1 object(s). A/db/x: failed calling webhook")
    assert "must have a running backend" in msg
    assert "must have a running backend" not in refused_message("cnpg", [{"object": "A/db/x", "msg": "forbidden"}])
