#!/usr/bin/env bash
# Build and push the pipeline step image (pipelines/Dockerfile) to a stack's ECR repository, unless the image of
# this content is there already; print its digest. The same as `scripts/publish_image.sh steps <stack>`.
#   scripts/publish_step_image.sh <stack>
set -euo pipefail
exec "$(dirname "$0")/publish_image.sh" steps "${1:?usage: scripts/publish_step_image.sh <stack>}"
