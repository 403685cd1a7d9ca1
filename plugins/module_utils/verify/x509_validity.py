# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The validity period and subject of X.509 certificates, stdlib only.

Just enough DER (RFC 5280 4.1) to read ``tbsCertificate.validity`` and the subject's common
name, so that the hosts need neither ``openssl`` (not in a minimal Debian) nor Python's
``cryptography``. A PEM file may hold a chain (k3s writes the leaf followed by its CA): the
first certificate is the file's own.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)
_OID_COMMON_NAME = bytes([0x55, 0x04, 0x03])  # 2.5.4.3
_SEQUENCE, _SET, _OID = 0x30, 0x31, 0x06
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x14: "latin-1", 0x16: "ascii", 0x1E: "utf-16-be"}


class CertificateError(ValueError):
    """Bytes that are not a readable X.509 certificate."""


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise CertificateError("truncated DER element")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertificateError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise CertificateError("truncated DER element")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    pos = start
    while pos < end:
        tag, value_start, value_end = _tlv(data, pos)
        out.append((tag, value_start, value_end))
        pos = value_end
    return out


def _time(tag: int, raw: bytes) -> datetime.datetime:
    text = raw.decode("ascii")
    if tag == _UTC_TIME:
        # RFC 5280 4.1.2.5.1: YYMMDDHHMMSSZ, YY >= 50 is 19YY
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise CertificateError(f"validity time has tag {tag:#x}, not UTCTime or GeneralizedTime")
    return datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=datetime.timezone.utc)


def _common_name(data: bytes, start: int, end: int) -> str:
    for tag, rdn_start, rdn_end in _children(data, start, end):
        if tag != _SET:
            continue
        for attr_tag, attr_start, attr_end in _children(data, rdn_start, rdn_end):
            if attr_tag != _SEQUENCE:
                continue
            parts = _children(data, attr_start, attr_end)
            if len(parts) == 2 and parts[0][0] == _OID and data[parts[0][1] : parts[0][2]] == _OID_COMMON_NAME:
                value_tag, value_start, value_end = parts[1]
                encoding = _STRING_TAGS.get(value_tag, "latin-1")
                return data[value_start:value_end].decode(encoding, errors="replace")
    return ""


def parse_der(der: bytes) -> dict:
    """``{subject, not_before, not_after}`` (datetimes in UTC) of one DER certificate."""
    try:
        tag, start, _end = _tlv(der, 0)
        if tag != _SEQUENCE:
            raise CertificateError("not a DER SEQUENCE")
        tbs_tag, tbs_start, tbs_end = _tlv(der, start)
        if tbs_tag != _SEQUENCE:
            raise CertificateError("no tbsCertificate")
        fields = _children(der, tbs_start, tbs_end)
        if fields and fields[0][0] == 0xA0:  # [0] version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject
        if len(fields) < 5 or fields[3][0] != _SEQUENCE:
            raise CertificateError("no validity in tbsCertificate")
        times = _children(der, fields[3][1], fields[3][2])
        if len(times) != 2:
            raise CertificateError("validity is not two times")
        not_before = _time(times[0][0], der[times[0][1] : times[0][2]])
        not_after = _time(times[1][0], der[times[1][1] : times[1][2]])
        subject = _common_name(der, fields[4][1], fields[4][2])
    except (IndexError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, CertificateError):
            raise
        raise CertificateError(f"unreadable certificate ({exc})") from exc
    return {"subject": subject, "not_before": not_before, "not_after": not_after}


def first_pem_certificate(text) -> dict:
    """The first certificate of a PEM text (bytes or str); CertificateError when there is none."""
    data = text.encode("ascii", errors="replace") if isinstance(text, str) else bytes(text)
    match = _PEM.search(data)
    if not match:
        raise CertificateError("no PEM certificate (-----BEGIN CERTIFICATE-----) in it")
    try:
        der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CertificateError(f"the PEM certificate is not valid base64 ({exc})") from exc
    return parse_der(der)
