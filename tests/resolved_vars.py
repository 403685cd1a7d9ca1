"""The one playbook that writes a host's variables, templated by Ansible itself, as JSON.

Tests read inventory/sample's resolved values (image lists, domains, bundle entries)
through it instead of re-implementing Ansible's variable precedence and templating. Like
every playbook of the collection it lists role gauntlet, whose defaults (the pinned
versions, bundle files and contracts) lie below the inventory's values.
Extra vars: ``__host`` (a host pattern), ``__names`` (variables to write), ``__dest``.
"""

VARS_PLAYBOOK = """---
- name: Write the inventory's resolved variables
  hosts: "{{ __host }}"
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Write them as JSON
      ansible.builtin.copy:
        content: "{{ dict(__names | zip(__names | map('extract', vars))) | to_nice_json }}"
        dest: "{{ __dest }}"
        mode: "0600"
      delegate_to: localhost
"""
