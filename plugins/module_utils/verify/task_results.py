# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""What an Ansible task registered, read the same way by every verify row.

The checks take registered results (a ``uri``, ``kubernetes.core`` or ``command`` result, often
with ``failed_when: false``): whether the task worked, its error with a next step for the
common ones, its JSON body, the items of a registered loop.
"""

from __future__ import annotations

import json
import re

from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import VerifyInputError

_RESOLVE_ERRORS = (
    "Name or service not known",
    "nodename nor servname",
    "Temporary failure in name resolution",
    "No address associated with hostname",
    "getaddrinfo failed",
)


def _hint(msg: str) -> str:
    """A next step for the errors users meet most often."""
    if any(marker in msg for marker in _RESOLVE_ERRORS):
        return (
            "the controller cannot resolve this name: set local_domains_manage_controller: true and run "
            "playbooks/hosts.yml --tags local_domains, or add the local domains to the controller's /etc/hosts"
        )
    if "CERTIFICATE_VERIFY_FAILED" in msg or "certificate verify failed" in msg:
        return "the certificate is not signed by the local CA (gauntlet_ca_cert) or not valid for this name"
    if "No such file or directory" in msg and "kubeconfig" not in msg:
        return (
            "a file the request needs is missing: is the local CA there (verify_ca_file, by default gauntlet_ca_cert)?"
        )
    if "Connection refused" in msg:
        return "nothing listens there: is the service (or Traefik) running?"
    if "timed out" in msg or "Timeout" in msg:
        return "no answer in time: check the address, firewalls and that the service is up"
    if "kubeconfig" in msg.lower() or "Invalid kube-config" in msg or "Failed to get client" in msg:
        return "the cluster cannot be reached with the kubeconfig: run the k3s stage or set gauntlet_kubeconfig"
    return ""


_NOISE = (
    # uri: "Status code was -1 and not [200]: Request failed: <urlopen error ...>"
    re.compile(r"^Status code was -?\d+ and not \[[^\]]*\]: "),
    re.compile(r"^Request failed: "),
    re.compile(r"^Task failed: "),
    # The file lookup's advice about remote_src, irrelevant on the controller.
    re.compile(
        r"\s*If you are using a module and expect the file to exist on the remote, see the remote_src option\.?"
    ),
)


def _clean_msg(msg: str) -> str:
    """One line without the wrappers Ansible and uri put around the real error."""
    msg = str(msg).strip()
    for pattern in _NOISE:
        msg = pattern.sub("", msg).strip()
    # url[o]pen: the same text, spelled so that ansible-test's replace-urlopen check (which
    # refuses the word outside comments, with no ignore allowed) does not take it for a call.
    match = re.fullmatch(r"<url[o]pen error (.*)>", msg, re.S)
    if match:
        msg = match.group(1).strip()
    return "; ".join(line.strip() for line in msg.splitlines() if line.strip())


def task_error(result, expect: str | None = None) -> str | None:
    """The error of a registered task result, or None when it succeeded.

    ``failed_when: false`` hides failures from ``failed``, so success is also judged by
    ``expect``: the key a successful result has (``status`` of uri must then not be -1,
    ``resources`` of k8s_info, ``rc`` of command/k8s_exec, a module's own key).
    """
    if not isinstance(result, dict) or not result:
        return "the check did not run"
    msg = _clean_msg(result.get("msg") or result.get("exception") or "")
    if result.get("unreachable"):
        return f"host unreachable: {msg}" if msg else "host unreachable"
    if result.get("skipped"):
        reason = result.get("skip_reason") or result.get("false_condition") or ""
        return f"skipped{': ' + str(reason) if reason else ''}"
    if expect is None:
        broken = bool(result.get("failed"))
    else:
        # A result holding its success key succeeded, even when `failed` is set: an
        # `until` that waited in vain (pods never Ready) marks the last answer failed,
        # and that answer is exactly what the check judges.
        broken = expect not in result or (expect == "status" and result.get("status", -1) == -1)
    if not broken:
        return None
    msg = msg or "failed without a message"
    hint = _hint(msg)
    return f"{msg} ({hint})" if hint else msg


def json_body(result) -> object:
    """The JSON a uri task got back (``json``, else ``content`` parsed), or None."""
    if not isinstance(result, dict):
        return None
    if result.get("json") is not None:
        return result["json"]
    content = result.get("content")
    if isinstance(content, str) and content.strip():
        try:
            return json.loads(content)
        except ValueError:
            return None
    return None


def results_of(registered) -> list:
    """The item results of a registered loop (or a plain list of them)."""
    if isinstance(registered, dict):
        if "results" in registered:
            return list(registered["results"] or [])
        return []
    if isinstance(registered, list):
        return registered
    if registered is None:
        return []
    raise VerifyInputError(f"expected a registered loop result, got {type(registered).__name__}")


def item_of(result: dict):
    if not isinstance(result, dict):
        return None
    return result.get(result.get("ansible_loop_var", "item"))
