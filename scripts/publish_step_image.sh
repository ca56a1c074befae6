#!/usr/bin/env bash
# Build and push the pipeline step image (pipelines/Dockerfile) to a stack's ECR repository,
# unless the image of this content is there already; print its digest (sha256:...).
#   scripts/publish_step_image.sh <stack>
# Prints nothing when the stack has no repository yet (its first `pulumi up` creates it).
# Needs: pulumi (logged in), the AWS CLI with credentials, docker buildx.
set -euo pipefail
stack="${1:?usage: scripts/publish_step_image.sh <stack>}"
cd "$(dirname "$0")/.."

repository=$(pulumi stack output stepImageRepository --stack "$stack" 2>/dev/null || true)
if [ -z "$repository" ]; then
  echo "no step image repository in stack $stack yet: the next pulumi up creates it" >&2
  exit 0
fi
tag=$(python3 -m pipelines.image tag)
digest=$(aws ecr describe-images --repository-name "${repository#*/}" --image-ids imageTag="$tag" \
  --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true)
if [ -z "$digest" ] || [ "$digest" = "None" ]; then
  aws ecr get-login-password | docker login --username AWS --password-stdin "${repository%%/*}" >&2
  metadata=$(mktemp)
  docker buildx build -f pipelines/Dockerfile -t "$repository:$tag" --push --metadata-file "$metadata" . >&2
  digest=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$metadata")
fi
echo "$digest"
