# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The verify row "tls": every local domain answers HTTPS with a certificate that is not ending soon."""

from __future__ import annotations

import datetime

from ansible_collections.gauntlet.platform.plugins.module_utils.verify.dns import expected_addresses
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import FAIL, OK, VerifyInputError, make_row
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.task_results import (
    item_of,
    results_of,
    task_error,
)


def tls_targets(services: dict, entries, ports: dict | None = None, paths: dict | None = None) -> list[dict]:
    """Every local domain with the address it should resolve to, its port and the URL to ask."""
    if not isinstance(services, dict) or not services:
        raise VerifyInputError("expected local_domains_services, a mapping of service to domain")
    expected = expected_addresses(entries)
    ports = ports or {}
    paths = paths or {}
    targets = []
    for service in sorted(services):
        domain = str(services[service]).lower().rstrip(".")
        port = int(ports.get(service, 443))
        path = str(paths.get(service, "/"))
        if not path.startswith("/"):
            path = "/" + path
        authority = domain if port == 443 else f"{domain}:{port}"
        targets.append(
            {
                "service": service,
                "domain": domain,
                "address": expected.get(domain, ""),
                "port": port,
                "url": f"https://{authority}{path}",
            }
        )
    return targets


def _parse_asn1_time(value: str) -> datetime.datetime | None:
    for fmt in ("%Y%m%d%H%M%SZ", "%Y%m%d%H%M%S%z"):
        try:
            parsed = datetime.datetime.strptime(str(value), fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    return None


def tls_rows(requests, certificates=None, min_days: int = 14, now: datetime.datetime | None = None) -> list[dict]:
    """One row per domain: the HTTPS answer (uri validates chain and name) and the certificate's lifetime.

    requests: registered uri loop, item = a tls_targets entry; certificates: registered
    community.crypto.get_certificate loop over the same items (optional).
    """
    now = now or datetime.datetime.now(datetime.UTC)
    certs = {}
    for result in results_of(certificates):
        item = item_of(result)
        if isinstance(item, dict):
            certs[item.get("url")] = result
    rows = []
    for result in results_of(requests):
        item = item_of(result)
        if not isinstance(item, dict) or "url" not in item:
            raise VerifyInputError(f"a TLS check item must be a tls_targets entry, got {item!r}")
        target = item["url"]
        error = task_error(result, expect="status")
        if error:
            rows.append(make_row("tls", target, FAIL, error))
            continue
        status = int(result["status"])
        detail = [f"HTTP {status}"]
        bad = status >= 500
        if bad:
            detail[0] += " (server error behind the ingress: is the service running?)"
        cert = certs.get(item["url"])
        if cert is not None:
            cert_error = task_error(cert, expect="not_after")
            if cert_error:
                bad = True
                detail.append(f"certificate not read: {cert_error}")
            else:
                not_after = _parse_asn1_time(cert.get("not_after"))
                if not_after is None:
                    detail.append(f"certificate end date unreadable: {cert.get('not_after')!r}")
                else:
                    days = (not_after - now).days
                    text = f"certificate valid until {not_after:%Y-%m-%d} ({days} days left)"
                    if cert.get("expired") or days < min_days:
                        bad = True
                        text += f"; renew it: less than {min_days} days left"
                    detail.append(text)
        rows.append(make_row("tls", target, FAIL if bad else OK, "; ".join(detail)))
    if not rows:
        rows.append(make_row("tls", "local domains", FAIL, "no HTTPS request ran"))
    return rows
