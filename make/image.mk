# Sandbox images (owned by the sandbox package). Included by the main Makefile.
#
#   make image       offline base (debootstrap) + host-side wheels + avo-sandbox:cpu
#   make image-gpu   avo-sandbox:gpu on a host with registry access (CUDA base)
#
# `make image` is idempotent and fast once built: the base is skipped when
# present, wheels when their requirements are unchanged, and the CPU image
# when it is newer than every file of its build context.

SANDBOX_BASE_IMAGE ?= avo-base:bookworm
CPU_IMAGE ?= avo-sandbox:cpu
GPU_IMAGE ?= avo-sandbox:gpu
GPU_BASE_IMAGE ?= nvidia/cuda:12.4.1-runtime-ubuntu22.04
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

image-gpu:
	PYTHON_VERSION=3.10 images/prepare_wheels.sh $(GPU_CONTEXT)/requirements.txt $(GPU_CONTEXT)/wheels
	docker build --build-arg BASE_IMAGE=$(GPU_BASE_IMAGE) -t $(GPU_IMAGE) $(GPU_CONTEXT)
