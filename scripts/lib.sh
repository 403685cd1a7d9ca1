# shellcheck shell=bash
# Shared by scripts/lab and scripts/test (sourced, from the checkout's root).
#
# Two users, as on a real controller:
#   root            podman (rootless podman is not set up here), apt, /etc/containers:
#                   "create the hosts";
#   the controller  an unprivileged user that runs ansible-playbook and Molecule's
#   user            converge: the user who called sudo (SUDO_USER), else `gauntlet-ci`
#                   (created without any sudo right), or GAUNTLET_CONTROLLER_USER.
# The hosts are reached like VMs: over SSH as `debian` with sudo (docs/testing.md).

# Re-run the calling script as root: through sudo when it exists, else stop clearly.
gauntlet_need_root() { # "$0" "$@"
  [ "$(id -u)" = 0 ] && return 0
  if command -v sudo >/dev/null 2>&1; then
    exec sudo --preserve-env=GAUNTLET_BUNDLE,GAUNTLET_K3S_BUNDLE,GAUNTLET_REQUIRE_ALL,GAUNTLET_CONTROLLER_USER,LAB_SERVERS,LAB_AGENTS,MOLECULE,LAB_TEST,GAUNTLET_SKIP_BASE_IMAGE \
      "$@"
  fi
  echo "$(basename "$1"): needs root (podman, apt and /etc/containers); sudo is not installed: run it as root" >&2
  exit 1
}

gauntlet_controller_user() {
  if [ -n "${GAUNTLET_CONTROLLER_USER:-}" ]; then
    echo "$GAUNTLET_CONTROLLER_USER"
  elif [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    echo "$SUDO_USER"
  else
    echo gauntlet-ci
  fi
}

# Make sure the controller user exists and can use the checkout: read it, run .venv,
# write .cache/ and the credentials folders.
gauntlet_controller_setup() { # user
  local user="$1" dir
  if ! id "$user" >/dev/null 2>&1; then
    [ "$user" = gauntlet-ci ] || { echo "controller user $user does not exist" >&2; exit 1; }
    useradd --create-home --shell /bin/bash --comment "gauntlet controller (no sudo)" gauntlet-ci
    echo "setup: created the unprivileged controller user gauntlet-ci"
  fi
  if [ "$user" = gauntlet-ci ] && [[ " $(id -nG gauntlet-ci) " == *" sudo "* ]]; then
    echo "gauntlet-ci must not have sudo rights (it is in group sudo)" >&2
    exit 1
  fi
  mkdir -p .cache/test-hosts
  for dir in .cache inventory/lab/credentials; do
    mkdir -p "$dir"
    chown -R "$user:" "$dir"
  done
  # Secrets: validation refuses a credentials folder other users can open.
  chmod 700 inventory/lab/credentials
  if ! runuser -u "$user" -- sh -c 'test -r ansible.cfg && test -x .venv/bin/ansible-playbook && test -w .cache'; then
    echo "controller user $user cannot read this checkout ($PWD) or run .venv: make them readable" >&2
    exit 1
  fi
}

# Run a command on the controller as the controller user (its own HOME, same PATH and venv).
gauntlet_as_controller() { # user command...
  local user="$1"
  shift
  if [ "$(id -un)" = "$user" ]; then
    "$@"
  else
    runuser -u "$user" -- "$@"
  fi
}
