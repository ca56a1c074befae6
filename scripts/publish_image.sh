#!/usr/bin/env bash
# Build and push one of the platform's images to a stack's ECR repository, unless the image of this
# content is there already; print its digest (sha256:...).
#   scripts/publish_image.sh steps <stack>     the pipeline step image (pipelines/Dockerfile)
#   scripts/publish_image.sh serving <stack>   the model server image KServe runs (serving/Dockerfile)
#   scripts/publish_image.sh features <stack>  the features step image the feature steps run (pipelines/features/Dockerfile)
# Prints nothing when the stack has no repository yet (its first `pulumi up` creates it).
# Needs: pulumi (logged in), the AWS CLI with credentials, docker buildx.
set -euo pipefail
usage="usage: scripts/publish_image.sh <steps|serving|features> <stack>"
kind="${1:?$usage}"
stack="${2:?$usage}"
cd "$(dirname "$0")/.."
case "$kind" in
  steps) output=stepImageRepository; dockerfile=pipelines/Dockerfile; module=pipelines.image ;;
  serving) output=servingImageRepository; dockerfile=serving/Dockerfile; module=pipelines.serving_image ;;
  features) output=featureImageRepository; dockerfile=pipelines/features/Dockerfile; module=pipelines.features.image ;;
  *) echo "error: no image '$kind': give steps (pipelines/Dockerfile), serving (serving/Dockerfile) or features (pipelines/features/Dockerfile)" >&2; exit 2 ;;
esac

repository=$(pulumi stack output "$output" --stack "$stack" 2>/dev/null || true)
if [ -z "$repository" ]; then
  echo "no $kind image repository in stack $stack yet: the next pulumi up creates it" >&2
  exit 0
fi
tag=$(python3 -m "$module" tag)
digest=$(aws ecr describe-images --repository-name "${repository#*/}" --image-ids imageTag="$tag" \
  --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true)
if [ -z "$digest" ] || [ "$digest" = "None" ]; then
  aws ecr get-login-password | docker login --username AWS --password-stdin "${repository%%/*}" >&2
  metadata=$(mktemp)
  docker buildx build -f "$dockerfile" -t "$repository:$tag" --push --metadata-file "$metadata" . >&2
  digest=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$metadata")
fi
echo "$digest"
