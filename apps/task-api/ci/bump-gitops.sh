#!/bin/sh
# Bump the Task API image tag in the gitops repository, so Argo CD deploys it.
#
# Inputs (environment):
#   GITOPS_REPO   clone URL of the gitops repository (https://... or file://...)
#   IMAGE_TAG     the tag just pushed, e.g. the short commit sha
#   GITOPS_TOKEN  optional; a Gitea access token used as the HTTPS password
#   GITOPS_PATH   optional; the kustomization to edit (default task-api/kustomization.yaml)
#   GIT_AUTHOR    optional; "Name <email>" of the commit (default the CI bot)
#
# Only the `newTag:` of the registry.local:5000/gauntlet/task-api entry changes.
# The commit message carries [CI SKIP] so the push never starts another build.
# A push that loses a race with another commit is retried on the new head.
set -eu

: "${GITOPS_REPO:?GITOPS_REPO must be the gitops repository URL}"
: "${IMAGE_TAG:?IMAGE_TAG must be the image tag to deploy}"
GITOPS_PATH="${GITOPS_PATH:-task-api/kustomization.yaml}"
GIT_AUTHOR="${GIT_AUTHOR:-Gauntlet CI <ci@gauntlet.local>}"
IMAGE="registry.local:5000/gauntlet/task-api"

case "$IMAGE_TAG" in
  *[!A-Za-z0-9_.-]* | "") echo "IMAGE_TAG '$IMAGE_TAG' is not a valid image tag" >&2; exit 2 ;;
esac

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

if [ -n "${GITOPS_TOKEN:-}" ]; then
  # The token goes through a credential helper, never into the URL or the log.
  git config --global credential.helper \
    '!f() { echo username=ci; echo "password=${GITOPS_TOKEN}"; }; f'
fi

git clone --quiet --depth 20 "$GITOPS_REPO" "$workdir/repo"
cd "$workdir/repo"
git config user.name "${GIT_AUTHOR% <*}"
git config user.email "$(echo "$GIT_AUTHOR" | sed 's/.*<\(.*\)>.*/\1/')"

bump() {
  [ -f "$GITOPS_PATH" ] || { echo "$GITOPS_PATH not found in $GITOPS_REPO" >&2; exit 1; }
  # Rewrite newTag on the line after "- name: <IMAGE>", whatever its indentation.
  awk -v image="$IMAGE" -v tag="$IMAGE_TAG" '
    $0 ~ "^[[:space:]]*- name: " image "[[:space:]]*$" { inimage = 1; print; next }
    inimage && $0 ~ "^[[:space:]]*newTag:" {
      sub(/newTag:.*/, "newTag: \"" tag "\""); inimage = 0; found = 1
    }
    inimage && $0 ~ "^[[:space:]]*- " { inimage = 0 }
    { print }
    END { if (!found) exit 3 }
  ' "$GITOPS_PATH" > "$GITOPS_PATH.new" || {
    echo "no newTag for $IMAGE in $GITOPS_PATH" >&2; exit 1; }
  mv "$GITOPS_PATH.new" "$GITOPS_PATH"
}

attempt=1
while :; do
  bump
  if git diff --quiet; then
    echo "$GITOPS_PATH already deploys $IMAGE:$IMAGE_TAG"
    exit 0
  fi
  git commit --quiet -am "task-api: deploy $IMAGE:$IMAGE_TAG [CI SKIP]"
  if git push --quiet origin HEAD; then
    echo "deployed $IMAGE:$IMAGE_TAG via $GITOPS_PATH"
    exit 0
  fi
  if [ "$attempt" -ge 3 ]; then
    echo "push to $GITOPS_REPO failed $attempt times" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  git fetch --quiet origin
  git reset --quiet --hard "origin/$(git rev-parse --abbrev-ref HEAD)"
done
