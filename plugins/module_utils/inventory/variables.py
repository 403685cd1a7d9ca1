# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Every variable set for a host: its name (known, or close to a known one) and its value
against the argument spec option that describes it (type, range, choices, sub-options)."""

from __future__ import annotations

import difflib
import re

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.gathered import (
    as_mapping,
    as_str_list,
    host_variable,
    kind,
    origin_or_host,
    show,
)

# Ranges: argument specs have types and choices but no ranges, so the range follows the
# option's name (the roles name them consistently): ports 1-65535, ratios 0-1, counts,
# timeouts and durations at least 1, every other number at least 0.
_PORT = re.compile(r"_port$")
_RATIO = re.compile(r"_ratio$")
# Retries may be 0 (try once), so they only must not be negative.
_AT_LEAST_ONE = re.compile(r"_(replicas|instances|capacity|concurrency|timeout|days|lifespan|seconds|size)$")

_BOOL_STRINGS = {"yes", "no", "true", "false", "on", "off", "y", "n", "1", "0", "t", "f"}


# --- One value against an argument spec option ------------------------------------------
def _type_problem(value, type_name) -> str | None:
    """Why `value` is not of the argument spec type `type_name`, or None."""
    if type_name in (None, "raw"):
        return None
    if value is None:
        return "it is empty (null); give a value or remove the line to keep the default"
    what = kind(value)
    if type_name in ("str", "path"):
        if isinstance(value, bool):
            return "it is a boolean (YAML reads yes/no/true/false/on/off so); quote it if you mean the text"
        if isinstance(value, (dict, list, tuple)):
            return f"it is {what}, the option takes a single string"
        if not isinstance(value, (str, int, float)):
            return f"it is {what}, the option takes a string"
        return None
    if type_name == "int":
        if isinstance(value, bool):
            return "it is a boolean, the option takes a whole number"
        if isinstance(value, int):
            return None
        if isinstance(value, float) and value.is_integer():
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return "it is the text " + show(value) + ", the option takes a number: write it without quotes"
        return f"it is {what}, the option takes a whole number"
    if type_name == "float":
        if isinstance(value, bool):
            return "it is a boolean, the option takes a number"
        if isinstance(value, (int, float)):
            return None
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return f"it is {what}, the option takes a number"
            return "it is the text " + show(value) + ", the option takes a number: write it without quotes"
        return f"it is {what}, the option takes a number"
    if type_name == "bool":
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and value.strip().lower() in _BOOL_STRINGS:
            return None
        if isinstance(value, int) and value in (0, 1):
            return None
        return f"it is {what}, the option takes true or false"
    if type_name == "list":
        if isinstance(value, (list, tuple)):
            return None
        if isinstance(value, str):
            return "it is a string, the option takes a list: write one '- item' per line (or [a, b])"
        return f"it is {what}, the option takes a list"
    if type_name == "dict":
        if isinstance(value, dict):
            return None
        if isinstance(value, (list, tuple)):
            return "it is a list, the option takes a mapping: write 'key: value' lines without the leading '- '"
        return f"it is {what}, the option takes a mapping of key: value lines"
    return None  # a type this checker does not know: the role checks it when it runs


def _range_problem(name: str, value) -> str | None:
    """Range of a number, from the option's name (see the table at the top)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if _PORT.search(name) and not 1 <= value <= 65535:
        return "a port is between 1 and 65535"
    if _RATIO.search(name) and not 0 <= value <= 1:
        return "a ratio is between 0 and 1"
    # A threshold (verify_tls_min_days) may be 0; a lifetime or a count may not.
    if _AT_LEAST_ONE.search(name) and "_min_" not in name and value < 1:
        return "it must be at least 1"
    if value < 0:
        return "it must not be negative"
    return None


def _choice_problem(value, choices) -> str | None:
    if not isinstance(choices, (list, tuple)) or not choices:
        return None
    try:
        if value in choices:
            return None
    except TypeError:
        pass
    text = ", ".join(str(choice) for choice in choices)
    close = difflib.get_close_matches(str(value), [str(choice) for choice in choices], n=1) if value is not None else []
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"it must be one of: {text}{hint}"


def spec_problems(path: str, value, spec) -> list[str]:
    """Problems of `value` against one argument spec option; `path` names it in messages.

    Reads type, elements, choices, options (nested, with required) and no_log; the
    range follows the name (_range_problem).
    """
    if not isinstance(spec, dict):
        return []
    secret = bool(spec.get("no_log"))
    problems = []
    why = _type_problem(value, spec.get("type"))
    if why:
        return [f"{path} = {show(value, secret)}: {why}"]
    why = _range_problem(path.rsplit(".", 1)[-1].split("[")[0], value)
    if why:
        problems.append(f"{path} = {show(value, secret)}: {why}")
    if spec.get("type") != "list" and spec.get("choices"):
        why = _choice_problem(value, spec.get("choices"))
        if why:
            problems.append(f"{path} = {show(value, secret)}: {why}")
    if spec.get("type") == "list" and isinstance(value, (list, tuple)):
        element_spec = {"type": spec.get("elements"), "options": spec.get("options"), "no_log": secret}
        if spec.get("choices"):
            element_spec["choices"] = spec.get("choices")
        for index, item in enumerate(value):
            problems.extend(spec_problems(f"{path}[{index}]", item, element_spec))
    elif spec.get("type") in ("dict", None) and isinstance(value, dict) and isinstance(spec.get("options"), dict):
        problems.extend(_suboption_problems(path, value, spec["options"]))
    return problems


def _suboption_problems(path: str, value: dict, options: dict) -> list[str]:
    problems = []
    for key in sorted(options, key=str):
        sub = options[key] if isinstance(options[key], dict) else {}
        if key not in value:
            if sub.get("required"):
                problems.append(f"{path} has no '{key}': every entry needs one")
            continue
        problems.extend(spec_problems(f"{path}.{key}", value[key], sub))
    for key in sorted((k for k in value if k not in options), key=str):
        close = difflib.get_close_matches(str(key), [str(k) for k in options], n=1, cutoff=0.75)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(map(str, options)))}"
        problems.append(f"{path} has an unknown key '{key}' ({hint})")
    return problems


# --- Names of variables ------------------------------------------------------------------
def prefix_of(name: str, prefixes) -> str | None:
    """The longest role prefix (or 'gauntlet') that `name` starts with, as '<prefix>_'."""
    best = None
    for prefix in prefixes:
        if isinstance(prefix, str) and name.startswith(prefix + "_") and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def unknown_variable_problem(name: str, known, prefixes) -> str | None:
    """A variable nobody reads that looks like one somebody does, or None.

    - a role's prefix (k3s_, registry_, ...) that is none of that role's options: reported,
      with the closest option when there is one (house style: a role reads only variables
      with its prefix, so nothing reads this one);
    - gauntlet_ or no known prefix: reported only when it is close to a known name.
    """
    if not isinstance(name, str) or name in known or name.startswith(("ansible_", "_")):
        return None
    prefix = prefix_of(name, prefixes)
    if prefix is not None:
        candidates = [k for k in known if isinstance(k, str) and k.startswith(prefix + "_")]
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
        if close:
            return f"'{name}' is not a variable anything reads; did you mean '{close[0]}'? Rename it"
        if prefix != "gauntlet":
            nearest = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
            hint = f"the closest are {', '.join(nearest)}; " if nearest else ""
            return (
                f"'{name}' is not an option of role {prefix}, so nothing reads it ({hint}the role's "
                "meta/argument_specs.yml lists them all): fix the name or remove it"
            )
        return None
    close = difflib.get_close_matches(name, [k for k in known if isinstance(k, str)], n=1, cutoff=0.85)
    if close:
        return f"'{name}' is not a variable anything reads; did you mean '{close[0]}'? Rename it"
    return None


_TRUE_TEXT = ("yes", "true", "on", "1", "y", "t")
_FALSE_TEXT = ("no", "false", "off", "0", "n", "f")


def _command_line_value(value, origin, spec):
    """`-e name=value` always gives text; convert it as Ansible's argument spec will.

    Ansible's type checks turn the text of a number or a boolean into one (module_utils
    common/validation.py check_type_int/float/bool), so the roles accept `-e timeout=20`.
    In inventory files a quoted number stays a problem: there the quotes are a choice.
    """
    if not (isinstance(value, str) and isinstance(origin, str) and "CLI option" in origin):
        return value
    kind_name = spec.get("type")
    text = value.strip()
    if kind_name == "int" and re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if kind_name == "float":
        try:
            return float(text)
        except ValueError:
            return value
    if kind_name == "bool" and text.lower() in _TRUE_TEXT + _FALSE_TEXT:
        return text.lower() in _TRUE_TEXT
    return value


def variable_problems(data: dict) -> list[str]:
    """Every variable set for a host: template errors, unknown names, values against their spec."""
    hosts = as_mapping(data.get("hosts"))
    options = as_mapping(data.get("options"))
    prefixes = as_str_list(data.get("prefixes"))
    known = set(options)
    problems = []
    failed: dict[tuple, list[str]] = {}
    for host in sorted(hosts, key=str):
        variables = hosts[host]
        if not isinstance(variables, dict):
            continue
        for name in sorted(variables, key=str):
            value, origin, error, _unused = host_variable(hosts, host, name)
            where = origin_or_host(origin, host)
            if not isinstance(name, str):
                continue
            why = unknown_variable_problem(name, known, prefixes)
            if why:
                problems.append(f"{where}: {why}")
                continue
            if error:
                failed.setdefault((name, origin, str(error)), []).append(str(host))
                continue
            option = as_mapping(options.get(name))
            spec = as_mapping(option.get("spec"))
            if not spec or spec.get("computed"):
                continue
            owner = option.get("owner")
            suffix = f" ({owner})" if isinstance(owner, str) and owner else ""
            for problem in spec_problems(name, _command_line_value(value, origin, spec), spec):
                problems.append(f"{where}: {problem}{suffix}")
    for (name, origin, error), names in failed.items():
        which = f"host '{names[0]}'" if len(names) == 1 else f"hosts {', '.join(names)}"
        problems.append(
            f"{which}: variable {name} (set in {origin or 'the inventory'}) cannot be computed: {error}; "
            "define the missing variable or fix the expression"
        )
    return problems
