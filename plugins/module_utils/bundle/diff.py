# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""What changed from one bundle lock to another (module bundle_diff, playbooks/bundle-diff.yml):
added, removed and changed images (tags, digests, sizes, the bytes a delta would carry), files
and wheels (``diff_locks``), and the same as text lines (``diff_text``).

Stdlib only.
"""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, parse_image


def _repo_key(name: str) -> tuple[str, str | None]:
    try:
        ref = parse_image(name)
    except ImageRefError:
        return name, None
    return f"{ref.registry}/{ref.repository}", ref.tag or ref.digest


def _image_view(entry: dict, other_blobs: set | None = None) -> dict:
    repo, tag = _repo_key(entry["name"])
    view = {
        "name": entry["name"],
        "repository": repo,
        "tag": tag,
        "digest": entry["digest"],
        "size": bundle_lock.image_size(entry),
    }
    if other_blobs is not None and bundle_lock.has_content(entry):
        view["new_bytes"] = sum(
            item["size"] for item in entry["manifests"] + entry["blobs"] if item["digest"] not in other_blobs
        )
    return view


def _content_digests(lock: dict) -> set:
    out = set()
    for entry in lock["images"]:
        if bundle_lock.has_content(entry):
            out.update(item["digest"] for item in entry["manifests"] + entry["blobs"])
        out.add(entry["digest"])
    return out


def diff_locks(old: dict, new: dict) -> dict:
    """Images, files and wheels added, removed and changed from lock ``old`` to lock ``new``."""
    old_blobs = _content_digests(old)
    old_images = {e["name"]: e for e in old["images"]}
    new_images = {e["name"]: e for e in new["images"]}
    images = {"added": [], "removed": [], "changed": [], "unchanged": 0}
    gone = {n: e for n, e in old_images.items() if n not in new_images}
    for name, entry in sorted(new_images.items()):
        before = old_images.get(name)
        if before is None:
            continue
        if before["digest"] == entry["digest"]:
            images["unchanged"] += 1
        else:
            images["changed"].append({"name": name, "old": _image_view(before), "new": _image_view(entry, old_blobs)})
    fresh = {n: e for n, e in new_images.items() if n not in old_images}
    by_repo_old: dict[str, list] = {}
    for name, entry in gone.items():
        by_repo_old.setdefault(_repo_key(name)[0], []).append(entry)
    for name, entry in sorted(fresh.items()):
        repo = _repo_key(name)[0]
        candidates = by_repo_old.get(repo, [])
        newer = [n for n in fresh if _repo_key(n)[0] == repo]
        if len(candidates) == 1 and len(newer) == 1:
            before = candidates.pop()
            del gone[before["name"]]
            images["changed"].append({"name": name, "old": _image_view(before), "new": _image_view(entry, old_blobs)})
        else:
            images["added"].append(_image_view(entry, old_blobs))
    images["removed"] = [_image_view(e) for _n, e in sorted(gone.items())]
    images["changed"].sort(key=lambda c: c["name"])

    def by_name(entries, key):
        return {e[key]: e for e in entries}

    files = {"added": [], "removed": [], "changed": [], "unchanged": 0}
    old_files, new_files = by_name(old["files"], "name"), by_name(new["files"], "name")
    for name in sorted(set(old_files) | set(new_files)):
        before, after = old_files.get(name), new_files.get(name)
        if before is None:
            files["added"].append({"name": name, "sha256": after["sha256"], "size": after.get("size")})
        elif after is None:
            files["removed"].append({"name": name, "sha256": before["sha256"], "size": before.get("size")})
        elif before["sha256"] != after["sha256"]:
            files["changed"].append(
                {
                    "name": name,
                    "old": {"sha256": before["sha256"], "size": before.get("size")},
                    "new": {"sha256": after["sha256"], "size": after.get("size")},
                }
            )
        else:
            files["unchanged"] += 1
    wheels = {"added": [], "removed": [], "changed": []}
    old_wheels, new_wheels = by_name(old["wheels"], "name"), by_name(new["wheels"], "name")
    for name in sorted(set(old_wheels) | set(new_wheels)):
        before, after = old_wheels.get(name), new_wheels.get(name)
        if before is None:
            wheels["added"].append({"name": name, "version": after["version"]})
        elif after is None:
            wheels["removed"].append({"name": name, "version": before["version"]})
        elif (before["version"], before["sha256"]) != (after["version"], after["sha256"]):
            wheels["changed"].append({"name": name, "old": before["version"], "new": after["version"]})
    new_bytes = (
        sum(item.get("new_bytes") or 0 for item in images["added"] + [c["new"] for c in images["changed"]])
        + sum((f.get("size") or 0) for f in files["added"])
        + sum((c["new"].get("size") or 0) for c in files["changed"])
    )
    return {"images": images, "files": files, "wheels": wheels, "new_bytes": new_bytes}


def _mib(size) -> str:
    return "size unknown" if size is None else f"{size / 1048576:.1f} MiB"


def _short(digest: str) -> str:
    return digest.replace("sha256:", "")[:12]


def diff_text(diff: dict, old_name: str = "old", new_name: str = "new") -> list:
    """The diff as lines a person reads."""
    im, fi, wh = diff["images"], diff["files"], diff["wheels"]
    lines = [
        f"bundle diff {old_name} -> {new_name}",
        f"images: {len(im['added'])} added, {len(im['removed'])} removed, {len(im['changed'])} changed, "
        f"{im['unchanged']} unchanged",
    ]
    for c in im["changed"]:
        old, new = c["old"], c["new"]
        version = f"{old['tag']} -> {new['tag']}" if old["tag"] != new["tag"] else f"{new['tag']} (new digest)"
        lines.append(
            f"  ~ {new['repository']} {version} sha256:{_short(old['digest'])} -> sha256:{_short(new['digest'])}; "
            f"{_mib(old['size'])} -> {_mib(new['size'])}, {_mib(new.get('new_bytes'))} new"
        )
    for a in im["added"]:
        lines.append(f"  + {a['name']} sha256:{_short(a['digest'])}; {_mib(a['size'])}, {_mib(a.get('new_bytes'))} new")
    for r in im["removed"]:
        lines.append(f"  - {r['name']} sha256:{_short(r['digest'])}; {_mib(r['size'])}")
    lines.append(
        f"files: {len(fi['added'])} added, {len(fi['removed'])} removed, {len(fi['changed'])} changed, "
        f"{fi['unchanged']} unchanged"
    )
    for c in fi["changed"]:
        lines.append(
            f"  ~ {c['name']} {_short(c['old']['sha256'])} -> {_short(c['new']['sha256'])}; "
            f"{_mib(c['old']['size'])} -> {_mib(c['new']['size'])}"
        )
    for a in fi["added"]:
        lines.append(f"  + {a['name']} {_short(a['sha256'])}; {_mib(a['size'])}")
    for r in fi["removed"]:
        lines.append(f"  - {r['name']} {_short(r['sha256'])}; {_mib(r['size'])}")
    if any(wh.values()):
        lines.append(f"wheels: {len(wh['added'])} added, {len(wh['removed'])} removed, {len(wh['changed'])} changed")
        lines += [f"  ~ {c['name']} {c['old']} -> {c['new']}" for c in wh["changed"]]
        lines += [f"  + {a['name']} {a['version']}" for a in wh["added"]]
        lines += [f"  - {r['name']} {r['version']}" for r in wh["removed"]]
    lines.append(f"a differential bundle would carry about {_mib(diff['new_bytes'])}")
    return lines
