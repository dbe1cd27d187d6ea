# Sandbox images (owned by the sandbox package). Included by the main Makefile.
#
#   make image       offline base (debootstrap) + host-side wheels + avo-sandbox:cpu
#   make image-gpu   avo-sandbox:gpu: the same offline base + CUDA torch/triton wheels
#                    (TORCH_VERSION=2.14.1 by default: CUDA 13, driver >= 580; 2.10.0 for
#                    CUDA 12 drivers). Downloads about 3 GB and builds a 6 GB image: run it
#                    by hand on GPU hosts, never in CI. GPU_BASE_IMAGE=nvidia/cuda:... builds
#                    on NVIDIA's image instead (needs a registry; GPU_PYTHON= its python3).
#
# `make image` is idempotent and fast once built: the base is skipped when
# present, wheels when their requirements are unchanged, and the CPU image
# when it is newer than every file of its build context.

SANDBOX_BASE_IMAGE ?= avo-base:bookworm
CPU_IMAGE ?= avo-sandbox:cpu
GPU_IMAGE ?= avo-sandbox:gpu
GPU_BASE_IMAGE ?= $(SANDBOX_BASE_IMAGE)
TORCH_VERSION ?= 2.14.1
# The base's python3: Debian bookworm's 3.11, Ubuntu 22.04's 3.10 for nvidia/cuda bases.
GPU_PYTHON ?= $(if $(filter nvidia/cuda:%,$(GPU_BASE_IMAGE)),3.10,3.11)
CPU_CONTEXT := images/cpu
GPU_CONTEXT := images/gpu
CPU_STAMP := $(CPU_CONTEXT)/wheels/.image-built

.PHONY: image image-base image-gpu

image: image-base
	images/prepare_wheels.sh $(CPU_CONTEXT)/requirements.txt $(CPU_CONTEXT)/wheels
	@if docker image inspect $(CPU_IMAGE) >/dev/null 2>&1 && [ -f $(CPU_STAMP) ] \
	    && [ -z "$$(find $(CPU_CONTEXT) -newer $(CPU_STAMP) -not -name .image-built)" ]; then \
	    echo "$(CPU_IMAGE) is up to date"; \
	else \
	    docker build --build-arg BASE_IMAGE=$(SANDBOX_BASE_IMAGE) -t $(CPU_IMAGE) $(CPU_CONTEXT) \
	    && touch $(CPU_STAMP); \
	fi

image-base:
	BASE_IMAGE=$(SANDBOX_BASE_IMAGE) images/base/build_base.sh

image-gpu: $(if $(filter $(SANDBOX_BASE_IMAGE),$(GPU_BASE_IMAGE)),image-base)
	TORCH_VERSION=$(TORCH_VERSION) BASE_IMAGE=$(GPU_BASE_IMAGE) GPU_PYTHON=$(GPU_PYTHON) \
	    IMAGE=$(GPU_IMAGE) $(GPU_CONTEXT)/build.sh
