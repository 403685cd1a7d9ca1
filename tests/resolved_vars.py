"""The one playbook that writes a host's variables, templated by Ansible itself, as JSON.

Tests read inventory/sample's resolved values (image lists, domains, bundle entries)
through it instead of re-implementing Ansible's variable precedence and templating. Like
every playbook of the collection it lists role gauntlet, whose defaults (the pinned
versions, bundle files and contracts) lie below the inventory's values.
Extra vars: ``__host`` (a host pattern), ``__names`` (variables to write), ``__dest``.
"""


def vars_playbook(roles=()) -> str:
    """The playbook, with ``roles`` (names in the collection) listed after role gauntlet, their
    tasks skipped: their defaults and vars are resolved too, at their own precedence (defaults
    below the inventory, vars above it), as in the playbooks that run them."""
    listed = "".join(f"    - {{role: gauntlet.platform.{role}, when: false}}\n" for role in roles)
    return f"""---
- name: Write the inventory's resolved variables
  hosts: "{{{{ __host }}}}"
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
{listed}  tasks:
    - name: Write them as JSON
      ansible.builtin.copy:
        content: "{{{{ dict(__names | zip(__names | map('extract', vars))) | to_nice_json }}}}"
        dest: "{{{{ __dest }}}}"
        mode: "0600"
      delegate_to: localhost
"""


VARS_PLAYBOOK = vars_playbook()
