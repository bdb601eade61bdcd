"""Containers with caps: gzip streams, ZIP archives and folders, all read in memory.

Every read is bounded before it allocates: a gzip stream may not decompress past
``config.MAX_DECOMPRESSED_BYTES``, an archive or folder may not hold more than
``config.MAX_ARCHIVE_MEMBERS`` files or ``config.MAX_ARCHIVE_BYTES`` in all (a bomb or a
truncated archive is refused instead of becoming a half-zero volume), and only regular files
are read (a named pipe, device or socket would block or never end).
"""

from __future__ import annotations

import gzip
import io
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from model.core import config
from model.core.errors import UnreadableFileError, UploadTooLargeError


def read_capped(data: bytes, name: str, cap: int | None = None) -> bytes:
    """Decompress gzip data (recognised by magic bytes) with a size cap; other data as is.

    Raises
    ------
    UploadTooLargeError
        decompresses past ``cap`` (gzip bomb).
    UnreadableFileError
        truncated or corrupt gzip stream.
    """
    if data[:2] != b"\x1f\x8b":
        return data
    cap = config.MAX_DECOMPRESSED_BYTES if cap is None else cap
    try:
        decomp = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out = decomp.decompress(data, cap + 1)
        if len(out) > cap or decomp.unconsumed_tail:
            raise UploadTooLargeError(
                f"{name}: decompresses to more than {cap // 2**20} MiB; "
                "this is not a single MRI volume."
            )
        if not decomp.eof:
            raise UnreadableFileError(
                f"{name}: the compressed file is truncated (incomplete download or copy). "
                "Upload the complete file."
            )
        # Multi-member gzip files are legal; read the rest through the gzip module.
        if decomp.unused_data.strip(b"\x00"):
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                out = fh.read(cap + 1)
            if len(out) > cap:
                raise UploadTooLargeError(f"{name}: decompresses past the size cap.")
        return out
    except (zlib.error, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise UnreadableFileError(
            f"{name}: the compressed file is corrupt ({type(exc).__name__}). "
            "Upload the original file."
        ) from None



def unzip(data: bytes, name: str) -> list[tuple[str, bytes]]:
    """Members of a zip held in memory, with caps on count and decompressed size."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except Exception:
        raise UnreadableFileError(f"{name} is a corrupt or truncated ZIP archive. Zip the folder "
                                  "again and upload it.") from None
    if len(infos) > config.MAX_ARCHIVE_MEMBERS:
        raise UploadTooLargeError(f"{name} holds {len(infos)} files; the limit is "
                                  f"{config.MAX_ARCHIVE_MEMBERS}.")
    # The sizes the archive declares are checked before anything is decompressed (they may lie
    # downwards; the reads below are capped as well).
    if sum(max(0, int(i.file_size)) for i in infos) > config.MAX_ARCHIVE_BYTES:
        raise UploadTooLargeError(f"{name} decompresses to more than "
                                  f"{config.MAX_ARCHIVE_BYTES // 2**20} MiB; upload the MRI series only.")
    deadline = time.monotonic() + config.MAX_LOAD_SECONDS
    total = 0
    out = []
    for info in infos:
        if info.flag_bits & 0x1:
            raise UnreadableFileError(f"{name} is password-protected. Upload an unencrypted ZIP.")
        member = info.filename
        parts = PurePosixPath(member.replace("\\", "/")).parts
        if any(p == "__MACOSX" for p in parts) or (parts and parts[-1].startswith("._")):
            continue
        try:
            with zf.open(info) as fh:
                content = fh.read(config.MAX_ARCHIVE_BYTES - total + 1)
        except Exception as exc:
            raise UnreadableFileError(f"{name}: a member of the archive is corrupt "
                                      f"({type(exc).__name__}). Zip the folder again.") from None
        total += len(content)
        if time.monotonic() > deadline:
            raise UploadTooLargeError(f"{name}: reading the archive took longer than "
                                      f"{config.MAX_LOAD_SECONDS:.0f} s; upload one series at a time.")
        if total > config.MAX_ARCHIVE_BYTES:
            raise UploadTooLargeError(f"{name} decompresses to more than "
                                      f"{config.MAX_ARCHIVE_BYTES // 2**20} MiB; upload the MRI series only.")
        out.append((member, content))
    return out


def read_dir(path: Path) -> list[tuple[str, bytes]]:
    """Files under a folder (recursively, symlinks not followed) with caps."""
    out, total = [], 0
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    except OSError as exc:
        raise UnreadableFileError(f"Cannot read the folder {path.name}: {exc.strerror or exc}.") from None
    if len(files) > config.MAX_ARCHIVE_MEMBERS:
        raise UploadTooLargeError(f"{path.name} holds {len(files)} files; the limit is "
                                  f"{config.MAX_ARCHIVE_MEMBERS}.")
    for p in files:
        try:
            size = p.stat().st_size
            total += size
            if total > config.MAX_ARCHIVE_BYTES:
                raise UploadTooLargeError(f"{path.name} holds more than {config.MAX_ARCHIVE_BYTES // 2**20} "
                                          "MiB; give the MRI series folders only.")
            out.append((p.relative_to(path).as_posix(), p.read_bytes()))
        except OSError as exc:
            raise UnreadableFileError(f"Cannot read a file in {path.name}: {exc.strerror or exc}.") from None
    return out

