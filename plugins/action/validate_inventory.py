# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Action of gauntlet.platform.validate_inventory (docs in plugins/modules/validate_inventory.py).

Gathers, on the controller and without contacting any host: every inventory host's
variables (templated one by one, with where each is set) over the defaults of the play's
roles (role gauntlet: the collection's pins and contracts), the groups, every role's
meta/argument_specs.yml and the collection's meta/inventory_variables.yml, and what the
controller's disk holds at the credentials and render folders. The rules are pure
functions in module_utils/inventory/ (check.py runs them).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from pathlib import Path

import yaml
from ansible.plugins.action import ActionBase
from ansible.utils.vars import combine_vars

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.check import inventory_check
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.controller_paths import (
    is_published_certificate,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.controller_roles import (
    controller_roles,
    host_only_path_problems,
    unseen_setting_warnings,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.pins import pinned_override_warnings
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.variables import prefix_of

try:  # ansible-core 2.19+: values read from YAML carry where they came from.
    from ansible._internal._datatag._tags import Origin
except ImportError:  # pragma: no cover - older cores: messages name the host instead
    Origin = None

COLLECTION = Path(__file__).resolve().parents[2]
# The role whose defaults hold the collection's pins and contracts; every play lists it.
DEFAULTS_ROLE = "gauntlet"
_SERVICE_USE = re.compile(r"local_domains_services(?:\.([a-z][a-z0-9_]*)|\[['\"]([a-z][a-z0-9_]*)['\"]\])")
_NOT_SERVICES = {"values", "keys", "items", "get"}
_MAX_CREDENTIAL_FILES = 2000
# libyaml when present: the roles' specs are read on every run.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path):
    return yaml.load(path.read_text(), Loader=_SAFE_LOADER)  # noqa: S506 - CSafeLoader or SafeLoader, both safe


def load_options(collection: Path = COLLECTION) -> tuple[dict, list[str], list[str]]:
    """({variable: {spec, owner}}, prefixes, problems) from the roles' specs and the inventory spec."""
    options: dict = {}
    prefixes = ["gauntlet"]
    problems = []
    for spec_file in sorted(collection.glob("roles/*/meta/argument_specs.yml")):
        role = spec_file.parents[1].name
        prefixes.append(role)
        try:
            entry_points = (_load_yaml(spec_file) or {}).get("argument_specs") or {}
            for entry_point in entry_points.values():
                for name, spec in ((entry_point or {}).get("options") or {}).items():
                    options.setdefault(
                        name, {"spec": spec or {}, "owner": f"role {role}, meta/argument_specs.yml", "role": role}
                    )
        except (OSError, yaml.YAMLError, AttributeError) as error:
            problems.append(f"cannot read {spec_file}: {error}")
    topics = collection / "meta" / "inventory_variables.yml"
    try:
        for name, spec in ((_load_yaml(topics) or {}).get("options") or {}).items():
            options.setdefault(name, {"spec": spec or {}, "owner": "meta/inventory_variables.yml"})
    except (OSError, yaml.YAMLError, AttributeError) as error:
        problems.append(f"cannot read {topics}: {error}")
    return options, prefixes, problems


def required_services(collection: Path = COLLECTION) -> list[str]:
    """Every service whose domain a role or playbook reads (local_domains_services.<service>)."""
    found = set()
    for folder in ("roles", "playbooks"):
        for path in (collection / folder).rglob("*"):
            if path.suffix in (".yml", ".j2") and path.is_file():
                try:
                    text = path.read_text(errors="replace")
                except OSError:
                    continue
                for match in _SERVICE_USE.finditer(text):
                    name = match.group(1) or match.group(2)
                    if name not in _NOT_SERVICES:
                        found.add(name)
    return sorted(found)


def origin_of(value) -> str | None:
    """'file:line' (relative to the working folder when inside it) where a value was read, or None."""
    if Origin is None:
        return None
    try:
        tag = Origin.get_tag(value)
    except Exception:  # an origin is a courtesy, never a failure
        return None
    if tag is None:
        return None
    if tag.path:
        path = origin_path(tag.path)
        return f"{path}:{tag.line_num}" if tag.line_num else path
    return tag.description or None


def _failure(problems: list[str]) -> str:
    return (
        f"The inventory has {len(problems)} problem(s); nothing was changed, no host was contacted:\n- "
        + "\n- ".join(problems)
    )


def origin_path(path: str) -> str:
    """`path` relative to the working folder when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if not relative.startswith("..") else path


def _error_text(error: Exception) -> str:
    text = str(getattr(error, "message", "") or error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    return first[:300]


def _published_certificate(full: str) -> bool:
    try:
        with open(full, "rb") as handle:
            head = handle.read(1 << 20)
    except OSError:
        return False
    return is_published_certificate(full, head)


def describe_path(path, origin) -> dict:
    """What the controller holds at `path` (kind, mode, and the modes of the files under a folder)."""
    info = {"path": path, "origin": origin, "kind": "missing"}
    try:
        st = os.stat(path)
    except (OSError, ValueError, TypeError):
        return info
    info["mode"] = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        info["kind"] = "dir"
        files = {}
        for root, _dirs, names in os.walk(path):
            for name in names:
                full = os.path.join(root, name)
                try:
                    file_stat = os.stat(full)
                except OSError:
                    continue
                if stat.S_ISREG(file_stat.st_mode) and not _published_certificate(full):
                    files[os.path.relpath(full, path)] = stat.S_IMODE(file_stat.st_mode)
                if len(files) >= _MAX_CREDENTIAL_FILES:
                    break
        info["files"] = files
    elif stat.S_ISREG(st.st_mode):
        info["kind"] = "file"
    else:
        info["kind"] = "other"
    return info


def parse_problems(sources, load) -> list[str]:
    """The YAML inventory files of `sources` that do not parse, with the parser's message.

    Ansible only warns about them and runs on what is left (often nothing), which the other
    checks would report as missing groups. `load` is the play's DataLoader.load_from_file
    (vault and !unsafe aware). Failing on them globally (ansible.cfg unparsed_is_failed or
    any_unparsed_is_failed) would also fail every command run without -i while the lab's
    default inventory (inventory/lab) has no hosts.yml, so the check is here.
    """
    problems = []
    for source in sources if isinstance(sources, (list, tuple)) else []:
        source = str(source)
        if os.path.isdir(source):
            try:
                names = sorted(os.listdir(source))
            except OSError as error:
                problems.append(f"cannot read the inventory folder {source}: {error}")
                continue
            candidates = [
                os.path.join(source, name)
                for name in names
                if name.endswith((".yml", ".yaml")) and os.path.isfile(os.path.join(source, name))
            ]
        elif os.path.isfile(source) and source.endswith((".yml", ".yaml")):
            candidates = [source]
        else:
            candidates = []
        for path in candidates:
            shown = origin_path(path)
            try:
                data = load(path, cache="none")
            except Exception as error:  # the parser's message is the report
                lines = [line for line in str(getattr(error, "message", "") or error).splitlines() if line.strip()]
                where = getattr(error, "obj", None)  # ansible-core 2.19: the Origin (file:line:column)
                if where is not None and str(where).startswith(path):
                    shown = origin_path(str(where))
                problems.append(
                    f"{shown} cannot be parsed, so Ansible read no hosts from it: {' '.join(lines[:3])[:400]}; fix the "
                    "YAML there (indent with spaces, close every bracket and quote; compare inventory/sample/hosts.yml)"
                )
                continue
            if data is not None and not (
                isinstance(data, dict) and all(isinstance(group, dict) or group is None for group in data.values())
            ):
                problems.append(
                    f"{shown} is not an inventory: its top level must be a mapping of groups (all: children: ...), "
                    "like inventory/sample/hosts.yml"
                )
    return problems


class ActionModule(ActionBase):
    """Validate the inventory on the controller; fail with one message per problem."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        required_versions = args.get("required_versions") or []

        problems = parse_problems(task_vars.get("ansible_inventory_sources"), self._loader.load_from_file)
        if problems:  # the rest would only report what the unparsed file would have set
            result.update(failed=True, changed=False, problems=problems, msg=_failure(problems))
            return result
        defaults, hidden = self._role_defaults()
        if hidden:  # every other message would only be a pin the play cannot see
            result.update(failed=True, changed=False, problems=[hidden], msg=_failure([hidden]))
            return result
        options, prefixes, problems = load_options()
        known = set(options)
        hostvars = task_vars.get("hostvars")
        groups = {name: list(members) for name, members in (task_vars.get("groups") or {}).items()}
        self._groups = groups
        hosts = {}
        for host in groups.get("all", []):
            hosts[host] = self._gather(hostvars, host, defaults, options, known, prefixes)

        paths = {}
        reference = next(iter(groups.get("k3s_servers") or []), None) or next(iter(hosts), None)
        if reference is not None:
            for name in ("gauntlet_credentials_dir", "gauntlet_render_dir"):
                entry = hosts[reference].get(name)
                if entry and not entry.get("error") and isinstance(entry.get("value"), str) and entry["value"]:
                    paths[name] = describe_path(entry["value"], entry.get("origin"))

        data = {
            "groups": groups,
            "hosts": hosts,
            "options": options,
            "prefixes": prefixes,
            "required_services": required_services(),
            "required_versions": required_versions,
            "paths": paths,
        }
        problems.extend(inventory_check(data))
        problems.extend(self._host_only_paths(hostvars))
        warnings = pinned_override_warnings(data) + self._unseen_by_the_controller(hostvars, groups, options)
        if warnings:
            result["warnings"] = warnings
        result["changed"] = False
        result["problems"] = problems
        if problems:
            result["failed"] = True
            result["msg"] = _failure(problems)
        else:
            result["msg"] = f"the inventory is valid ({len(hosts)} hosts)"
        return result

    def _host_only_paths(self, hostvars) -> list[str]:
        """Variables localhost sees (group_vars/all) that use inventory_dir, which it lacks."""
        if hostvars is None:
            return []
        try:
            controller_vars = dict(hostvars.raw_get("localhost"))
        except Exception:  # the gathering above reports what cannot be read
            return []
        origins = {name: origin_of(value) for name, value in controller_vars.items()}
        return host_only_path_problems(controller_vars, origins)

    def _unseen_by_the_controller(self, hostvars, groups, options) -> list[str]:
        """Options of controller roles the first server sees otherwise than localhost, where their plays run."""
        server = next(iter(groups.get("k3s_servers") or []), None)
        if server is None or hostvars is None:
            return []
        roles = set(controller_roles(COLLECTION / "roles", _load_yaml))
        owners = {name: entry["role"] for name, entry in options.items() if entry.get("role") in roles}
        try:
            server_vars = dict(hostvars.raw_get(server))
            controller_vars = dict(hostvars.raw_get("localhost"))
        except Exception:  # the gathering above reports what cannot be read
            return []
        origins = {name: origin_of(server_vars[name]) for name in owners if name in server_vars}
        return unseen_setting_warnings(server, server_vars, controller_vars, owners, origins)

    def _role_defaults(self) -> tuple[dict, str | None]:
        """(the defaults of this play's public roles, a problem when role gauntlet's are hidden).

        hostvars.raw_get() gives a host's inventory variables without any play, so without
        the roles' defaults; every play sees them below the inventory (Ansible's precedence),
        and so does the validation. A role listed under `roles:` is public unless
        private_role_vars is on, which would hide the collection's pins from the other roles.
        """
        try:
            roles = list(self._task.get_play().roles)
        except Exception:  # no play (a module test): the inventory alone
            return {}, None
        defaults: dict = {}
        hidden = None
        for role in roles:
            if role.public:
                defaults = combine_vars(defaults, role.get_default_vars())
            elif role.get_name(include_role_fqcn=False) == DEFAULTS_ROLE:
                hidden = (
                    f"role {DEFAULTS_ROLE}'s defaults (the collection's pinned versions, bundle files and contracts) are "
                    "private to it: private_role_vars is on (ansible.cfg [defaults] private_role_vars or "
                    "ANSIBLE_PRIVATE_ROLE_VARS); turn it off so the other roles see them"
                )
        return defaults, hidden

    def _gather(self, hostvars, host, defaults, options, known, prefixes) -> dict:
        """The variables of `host` validation looks at: {name: {value, origin, error}}."""
        try:
            inventory = dict(hostvars.raw_get(host))
            raw_vars = combine_vars(defaults, inventory)
        except Exception as error:  # reported, never a traceback
            return {"__gather__": {"value": None, "error": _error_text(error)}}
        available = dict(raw_vars)
        available["hostvars"] = hostvars
        # The inventory's groups, as every play sees them (gauntlet_bundle_architectures reads groups['k3s_cluster']).
        available.setdefault("groups", self._groups)
        templar = self._templar.copy_with_new_env(available_variables=available)
        gathered = {}
        for name, value in raw_vars.items():
            if not isinstance(name, str) or name.startswith("ansible_"):
                continue
            interesting = (
                name in known
                or prefix_of(name, prefixes) is not None
                or difflib.get_close_matches(name, known, n=1, cutoff=0.85)
            )
            if not interesting:
                continue
            entry = {"origin": origin_of(value), "inventory": name in inventory}
            spec = (options.get(name) or {}).get("spec") or {}
            if name in known and not spec.get("computed"):
                try:
                    entry["value"] = templar.template(value)
                except Exception as error:  # undefined variables, filter errors: a message
                    entry["error"] = _error_text(error)
            else:
                entry["value"] = None
            gathered[name] = entry
        return gathered
