#!/usr/bin/env bash
# Build avo-sandbox:gpu: wheels for one torch version downloaded on the host, then an
# offline `docker build` whose context is that wheel folder alone.
#
# Why the wheel folder is the context: each torch version's wheels take about 3 GB,
# and only the ones this build installs should be sent to the daemon. Why on the host:
# builds run without network (and HTTPS from inside containers may be intercepted by
# a proxy only the host trusts).
#
# usage: images/gpu/build.sh    (make image-gpu sets the variables below)
#   TORCH_VERSION   torch release; 2.14.1 (CUDA 13, driver >= 580) by default,
#                   2.10.0 for CUDA 12 drivers
#   BASE_IMAGE      avo-base:bookworm (offline, images/base) or an nvidia/cuda:* image
#   GPU_PYTHON      the base's python3 version (3.11 for bookworm, 3.10 for Ubuntu 22.04)
#   IMAGE           tag to build (avo-sandbox:gpu)
# It ends by printing the image's size and torch's CUDA version inside it.
set -euo pipefail
cd "$(dirname "$0")/../.."

torch=${TORCH_VERSION:-2.14.1}
base=${BASE_IMAGE:-avo-base:bookworm}
python=${GPU_PYTHON:-3.11}
image=${IMAGE:-avo-sandbox:gpu}
dockerfile=images/gpu/Dockerfile
[[ "$base" == nvidia/cuda:* ]] && dockerfile=images/gpu/Dockerfile.cuda

wheels=images/gpu/wheels/torch-$torch-cp${python/./}
mkdir -p "$wheels"
{ cat images/gpu/requirements.txt; echo "torch==$torch"; } > "$wheels/requirements.txt"
PYTHON_VERSION=$python images/prepare_wheels.sh "$wheels/requirements.txt" "$wheels"

started=$(date +%s)
docker build --build-arg BASE_IMAGE="$base" --build-arg TORCH_VERSION="$torch" \
    -f "$dockerfile" -t "$image" "$wheels"
# The install stage's image (wheels plus an unpacked copy) is dangling now: remove
# it by its label, which only this build sets.
docker image prune -f --filter label=avo.build-stage=gpu-install >/dev/null
echo "built $image in $(( $(date +%s) - started )) s;" \
    "size $(docker image inspect "$image" --format '{{.Size}}' | numfmt --to=iec-i --suffix=B)"
docker run --rm --network none "$image" python3 -c \
    "import torch, triton; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'triton', triton.__version__)"
