"""The connection to the Docker engine, and the one place its errors are translated.

Every ``docker.errors`` exception becomes one of :mod:`sandbox.errors`, carrying the
fix a user can apply (start the daemon, build the image, register the runtime), so
nothing above the docker backend ever sees a Docker type.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from contextlib import contextmanager

import docker
import docker.errors
import requests

from ...errors import ContainerFault, DockerUnavailable, GpuUnavailable, ImageMissing, PolicyError
from ...gpu import INSTALL_FIX

#: Oldest engine API with everything used here (device requests, init, mounts).
API_VERSION = "1.41"

DAEMON_FIX = ("no Docker daemon answers{where}: start it with `sudo systemctl start docker`, "
              "or `dockerd >/var/log/dockerd.log 2>&1 &` where there is no systemd (see .ci/run)")
#: How to register gVisor on Debian/Ubuntu (what scripts/setup.sh does); the runtimeArgs are
#: explained in docs/SANDBOX.md. SIGHUP reloads runtimes without stopping running containers.
GVISOR_FIX = ("`apt-get install runsc`; merge {\"runtimes\": {\"runsc\": {\"path\": \"/usr/bin/runsc\", "
              "\"runtimeArgs\": [\"--network=none\", \"--oci-seccomp\"]}}} into /etc/docker/daemon.json; "
              "reload dockerd (`kill -HUP $(pidof dockerd)`); scripts/setup.sh does all three")


def _daemon_fix() -> str:
    host = os.environ.get("DOCKER_HOST")
    return DAEMON_FIX.format(where=f" at {host}" if host else "")


def image_fix(image: str) -> str:
    """What to say when ``image`` is not present locally: the build command for avo's own images
    (``avo image build``, which pip users have, not ``make``), a close match for a typo."""
    return f"image {image} is not present locally and is never pulled implicitly: {build_hint(image)}"


#: avo's own images and the command that builds each.
OWN_IMAGES = {"avo-sandbox:cpu": "avo image build", "avo-sandbox:gpu": "avo image build --gpu"}


def build_hint(image: str) -> str:
    """How to get ``image``: its build command, or "did you mean" one of avo's own for a near miss."""
    if image in OWN_IMAGES:
        return f"build it with `{OWN_IMAGES[image]}`"
    close = difflib.get_close_matches(image, list(OWN_IMAGES), n=1, cutoff=0.6)
    if close:
        return f"did you mean sandbox.image: {close[0]}? (build it with `{OWN_IMAGES[close[0]]}`)"
    return "build or load it (`docker build`, `docker load`); avo's own images come from `avo image build`"


@contextmanager
def engine_errors(image: str = "") -> Iterator[None]:
    """Translate every engine error into the package's own (with a fix where one exists)."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ImageMissing(image_fix(image)) from exc
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        if "could not select device driver" in text:
            raise GpuUnavailable(f"the engine cannot provide GPUs: {INSTALL_FIX}") from exc
        if "unknown or invalid runtime" in text:
            raise PolicyError(f"{text}: register the runtime with dockerd or unset sandbox.runtime") from exc
        raise ContainerFault(f"Docker engine error: {text}") from exc
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerUnavailable(_daemon_fix()) from exc


def connect() -> docker.DockerClient:
    """A client for the local engine, or DockerUnavailable saying how to start one."""
    with engine_errors():
        client = docker.from_env(version="auto")
        client.ping()
        return client


def engine_runtimes(client: docker.DockerClient) -> list[str]:
    """Names of the runtimes registered with the engine (runc, nvidia, runsc...)."""
    with engine_errors():
        return sorted(client.info().get("Runtimes", {}))


def image_present(client: docker.DockerClient, image: str) -> bool:
    with engine_errors(image):
        try:
            client.api.inspect_image(image)
        except docker.errors.ImageNotFound:
            return False
        return True


def require_image(client: docker.DockerClient, image: str) -> None:
    """ImageMissing naming the fix unless ``image`` is in the engine (never pulled implicitly)."""
    if not image_present(client, image):
        raise ImageMissing(image_fix(image))
