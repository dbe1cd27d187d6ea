"""Per-problem packages: an image derived from the configured one, built once per content hash.

``sandbox.packages`` (requirement specifiers) and ``sandbox.requirements`` (a
requirements file) name what a problem needs beyond ``sandbox.image``. Building:

1. one sandboxed call probes the base image: its Python, machine, glibc and the
   distributions it already has;
2. the wheels are downloaded on the host (``pip download``, binary only, for that
   Python and platform, constrained to the versions the image already has), because
   builds have no network (and HTTPS from containers may not be trusted anyway);
3. the engine builds ``FROM`` the base image's id with ``network_mode="none"``,
   installing from those wheels into a separate root copied over the base, so the
   wheels themselves never land in a layer;
4. the image is tagged ``<base>-pkgs-<hash>``, the hash covering the base image's id
   and the requirement lines: the same problem reuses its image, and a rebuilt base or
   a changed list gets a new one.

A bad name or version ends in one line with pip's error; a failed build tags nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import ImageBuildFailed, ImageMissing, PolicyError
from .facade import exec_once
from .policy import GpuSelection, SandboxPolicy

__all__ = ["ProblemImage", "requirement_lines"]

#: Bump when the build recipe changes, so images built by an older recipe are not reused.
RECIPE = "1"
#: Where the derived image is named (``avo image build CONFIG`` builds it).
BUILD_FIX = "build it with `avo image build CONFIG` (avo run builds it too)"

DOCKERFILE = """\
# Built by avo (sandbox/problem_image.py) for one problem's packages; no network.
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS install
ARG BUILD_ID
LABEL avo.problem-image-build=${BUILD_ID}
USER root
ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_WARN_SCRIPT_LOCATION=1
COPY wheels/ /wheels/
RUN mkdir -p /install && python3 -m pip install --no-index --find-links /wheels --root /install \\
        -r /wheels/requirements.txt

FROM ${BASE_IMAGE}
COPY --from=install /install/ /
"""

#: Printed by the base image's python3: what to download wheels for.
PROBE = """\
import importlib.metadata, json, platform, sys
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "machine": platform.machine(),
    "glibc": platform.libc_ver()[1],
    "installed": sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()
                         if d.metadata["Name"]}),
}))
"""


def requirement_lines(policy: SandboxPolicy) -> list[str]:
    """``packages`` then the requirements file's lines, without comments and blanks; pip options
    (``-r``, ``--index-url``...) are refused so the host's download stays on its own index."""
    lines = list(policy.packages)
    if policy.requirements is not None:
        try:
            text = Path(policy.requirements).read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"sandbox.requirements: cannot read {policy.requirements}: {exc.strerror}") from None
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("-"):
                raise PolicyError(f"sandbox.requirements: {policy.requirements}:{number}: pip options such as "
                                  f"{line.split()[0]!r} are not accepted; list requirement specifiers only")
            lines.append(line)
    return lines


def _platforms(machine: str, glibc: str) -> list[str]:
    """manylinux tags the image's glibc accepts, newest first, plus pure-Python wheels."""
    match = re.fullmatch(r"2\.(\d+)", glibc or "")
    newest = int(match.group(1)) if match else 17
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(newest, 16, -1)]
    return [*tags, f"manylinux2014_{machine}", "any"]


def _pip_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("ERROR:"):
            return line.removeprefix("ERROR:").strip()
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "pip failed without a message"


class ProblemImage:
    """The derived image of one policy: its tag, whether it is present, and how to build it."""

    def __init__(self, policy: SandboxPolicy) -> None:
        self.policy = policy
        self.base = policy.image
        self.lines = requirement_lines(policy)

    def tag(self, base_id: str) -> str:
        digest = hashlib.sha256(json.dumps([RECIPE, base_id, self.lines]).encode()).hexdigest()[:16]
        name, _, version = self.base.rpartition(":") if ":" in self.base.rsplit("/", 1)[-1] else (self.base, "", "latest")
        return f"{name}:{version}-pkgs-{digest}" if "@" not in self.base else f"avo-problem:{digest}"

    def resolve(self, *, build: bool, progress: Callable[[str], None] = lambda line: None) -> SandboxPolicy:
        """The policy with its image replaced by the derived one (built first when missing and
        ``build``; otherwise ImageMissing naming the fix). Without packages, the policy itself."""
        if not self.lines:
            return self.policy
        if self.policy.backend != "docker":
            raise PolicyError(f"sandbox.packages and sandbox.requirements need the docker backend (backend is "
                              f"{self.policy.backend}): build an image with the packages and name it in sandbox.image")
        from .backends.docker import connect, image_fix
        from .backends.docker.images import image_id

        client = connect()
        try:
            base_id = image_id(client, self.base)
            if base_id is None:
                raise ImageMissing(image_fix(self.base))
            tag = self.tag(base_id)
            if image_id(client, tag) is None:
                if not build:
                    raise ImageMissing(f"the image with this problem's packages ({tag}) is not built: {BUILD_FIX}")
                self._build(client, base_id, tag, progress)
        finally:
            client.close()
        return self.policy.model_copy(update={"image": tag, "packages": [], "requirements": None})

    def _build(self, client: object, base_id: str, tag: str, progress: Callable[[str], None]) -> None:
        from .backends.docker.images import build_image, remove_stage_images

        progress(f"building {tag}: {', '.join(self.lines)} on {self.base}")
        with tempfile.TemporaryDirectory(prefix="avo-problem-image-") as folder:
            context = Path(folder)
            facts = self._probe(context / "probe")
            self._download(facts, context)
            (context / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")
            progress(f"installing {len(list((context / 'wheels').glob('*.whl')))} wheels without network")
            build = secrets.token_hex(8)
            try:
                build_image(client, context, tag, build_args={"BASE_IMAGE": base_id, "BUILD_ID": build},  # type: ignore[arg-type]
                            labels={"avo.problem-image": RECIPE, "avo.base": self.base,
                                    "avo.requirements": "; ".join(self.lines)[:2000]})
            except ImageBuildFailed as exc:
                raise ImageBuildFailed(f"sandbox.packages: installing into {self.base} failed: {exc}") from None
            finally:
                remove_stage_images(client, build)  # type: ignore[arg-type]
        progress(f"built {tag}")

    def _probe(self, workspace: Path) -> dict[str, object]:
        """Python version, machine, glibc and installed distributions of the base image."""
        policy = self.policy.model_copy(update={"packages": [], "requirements": None, "gpus": GpuSelection(),
                                                "pool_size": 0, "timeout_s": 120.0})
        result = exec_once(["python3", "-c", PROBE], policy, workspace, purpose="probe")
        try:
            facts = json.loads(result.stdout.strip().splitlines()[-1])
            assert isinstance(facts, dict)
            return facts
        except (IndexError, ValueError, AssertionError):
            raise ImageBuildFailed(f"sandbox.image {self.base} has no usable python3 to install packages into "
                                   f"(probe exit {result.exit_code}: {result.stderr.strip()[-300:]})") from None

    def _download(self, facts: dict[str, object], context: Path) -> None:
        """The wheels of the requirements and their dependencies, for the image's Python, on the host."""
        python = str(facts["python"])
        (context / "wheels").mkdir()
        (context / "wheels" / "requirements.txt").write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        (context / "constraints.txt").write_text("\n".join(map(str, facts.get("installed", []))) + "\n",
                                                 encoding="utf-8")
        platforms = [arg for tag in _platforms(str(facts["machine"]), str(facts["glibc"])) for arg in ("--platform", tag)]
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--dest", str(context / "wheels"), "--only-binary=:all:",
             "--python-version", python, "--implementation", "cp", "--abi", f"cp{python.replace('.', '')}",
             *platforms, "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
             "-r", str(context / "wheels" / "requirements.txt"), "-c", str(context / "constraints.txt")],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            raise ImageBuildFailed(f"sandbox.packages: pip could not get {', '.join(self.lines)} for Python {python} "
                                   f"on {facts['machine']}: {_pip_error(done.stderr)}")
        shutil.rmtree(context / "probe", ignore_errors=True)
