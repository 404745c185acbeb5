"""The docker environment: an image from docker_env (built from its Dockerfile when one is
given, with the code baked in on --build-image), content-addressed so nothing is rebuilt twice."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Any

from mlrun_cli.envs.base import ContainerSpec, EnvOptions, EnvPlan, EnvState, PreparedEnv
from mlrun_cli.envs.network import network_failure
from mlrun_cli.envs.progress import progress
from mlrun_cli.errors import MlrunError, ServiceUnreachable, UsageError
from mlrun_cli.project.model import DockerEnv, Project
from mlrun_cli.shared import tags
from mlrun_cli.shared.docker_args import parse_docker_args
from mlrun_cli.shared.docker_engine import CODE_DIR, DockerError, client

NAME = "docker"
_ALWAYS_EXCLUDED = ("mlruns", ".git")


def _context_files(directory: Path) -> list[str]:
    """Files of the build context, honouring .dockerignore; mlruns/ and .git/ never go in."""
    from docker.utils.build import exclude_paths

    patterns: list[str] = list(_ALWAYS_EXCLUDED)
    ignore = directory / ".dockerignore"
    if ignore.is_file():
        patterns += [
            line.strip()
            for line in ignore.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
    return sorted(p for p in exclude_paths(str(directory), patterns) if (directory / p).is_file())


def _digest(directory: Path, files: list[str], *extra: str) -> str:
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part.encode() + b"\0")
    for name in files:
        path = directory / name
        digest.update(name.encode() + b"\0" + oct(path.stat().st_mode & 0o111).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _find_image(engine: Any, tag: str) -> Any | None:
    import docker.errors

    try:
        return engine.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def _build(engine: Any, context: bytes, tag: str, what: str) -> Any:
    import docker.errors

    with progress(f"building {what} {tag}"):
        try:
            image, _ = engine.images.build(
                fileobj=io.BytesIO(context), custom_context=True, tag=tag, rm=True, forcerm=True
            )
        except docker.errors.BuildError as error:
            lines = [str(item.get("stream") or item.get("error") or "").rstrip() for item in error.build_log]
            tail = "\n".join(line for line in lines if line)[-3000:]
            kind = ServiceUnreachable if network_failure(f"{error.msg}\n{tail}") else DockerError
            raise kind(
                f"building {what} failed: {error.msg}\n--- last lines of the build log ---\n{tail}"
            ) from None
    return image


def _tar(directory: Path, files: list[str], dockerfile: str, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in files:
            archive.add(directory / name, arcname=f"{prefix}{name}", recursive=False)
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _base_image(engine: Any, spec: DockerEnv, project: Project, *, build: bool) -> tuple[str, Any]:
    if spec.dockerfile is not None:
        files = [f for f in _context_files(project.directory) if f != "Dockerfile"]
        text = (project.directory / spec.dockerfile).read_text()
        tag = f"{spec.image.split(':')[0]}:mlrun-{_digest(project.directory, files, text)}"
        image = _find_image(engine, tag)
        if image is None and build:
            image = _build(engine, _tar(project.directory, files, text), tag, "base image")
        return tag, image
    image = _find_image(engine, spec.image)
    if image is None and build:
        import docker.errors

        try:
            with progress(f"pulling {spec.image}"):
                image = engine.images.pull(spec.image)
        except docker.errors.APIError as error:
            said = str(error.explanation or error)
            # A registry that did not answer is worth a retry (75); one that has no such image is not.
            kind = ServiceUnreachable if network_failure(said) else DockerError
            where = f"image {spec.image!r} is not available locally"
            raise kind(f"{where} and could not be pulled: {said}") from None
    return spec.image, image


def _code_image(engine: Any, base_tag: str, base: Any, project: Project, *, build: bool) -> tuple[str, Any]:
    files = _context_files(project.directory)
    content = _digest(project.directory, files, base.id if base is not None else base_tag)
    tag = f"mlrun-code/{(project.name or project.directory.name).lower()}:{content}"
    image = _find_image(engine, tag)
    if image is None and build:
        dockerfile = f"FROM {base.id}\nCOPY code/ {CODE_DIR}/\nWORKDIR {CODE_DIR}\n"
        image = _build(engine, _tar(project.directory, files, dockerfile, "code/"), tag, "code image")
    return tag, image


def _environment(spec: DockerEnv) -> dict[str, str]:
    values, missing = {}, []
    for name, value in spec.environment:
        if value is not None:
            values[name] = value
        elif name in os.environ:
            values[name] = os.environ[name]
        else:
            missing.append(name)
    if missing:
        raise UsageError(
            f"docker_env.environment copies {', '.join(missing)} from this machine, but it is not set here"
        )
    return values


def plan(project: Project, options: EnvOptions) -> EnvPlan:
    """The image and how to run it, looked up in the engine but neither pulled nor built."""
    spec = project.env.docker
    if spec is None:
        raise UsageError("--env-manager docker needs a project with docker_env")
    args = parse_docker_args(options.docker_args)
    container = ContainerSpec(
        image=spec.image,
        mount_code=not options.build_image,
        volumes=(*spec.volumes, *args.volumes),
        environment={**_environment(spec), **args.environment},
        run_args=options.docker_args,
        run_options=args.options,
        gpus=args.gpus if args.gpus is not None else spec.gpus,
        keep=options.keep_container,
    )
    engine = client()
    tag, image = _base_image(engine, spec, project, build=False)
    if options.build_image and image is not None:
        tag, image = _code_image(engine, tag, image, project, build=False)
    cached = image is not None

    def build(planned: EnvPlan) -> PreparedEnv:
        built_tag, built = _base_image(engine, spec, project, build=True)
        if options.build_image:
            built_tag, built = _code_image(engine, built_tag, built, project, build=True)
        if built is None:  # pragma: no cover - _base_image raised already
            raise MlrunError(f"no image for {built_tag}")
        ready = dataclasses.replace(container, image=built_tag, image_id=built.id)
        image_tags = {tags.DOCKER_IMAGE_URI: built_tag, tags.DOCKER_IMAGE_ID: built.id}
        return PreparedEnv(NAME, {}, image_tags, built_tag, container=ready)

    state = EnvState.CACHED if cached else EnvState.TO_BUILD
    description = f"{'reuse' if cached else 'build or pull'} image {tag}"
    return EnvPlan(
        NAME, state, tag, tag, description, container=dataclasses.replace(container, image=tag), builder=build
    )
