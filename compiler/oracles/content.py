"""The content oracle: reads files, directories and URLs and gives their UnixFS CIDs.

Answers `ask("content", {"source": "file:data/"})` with `{"cid": Link}` (DESIGN §5). The
CIDs are kubo's (`compiler/unixfs.py`); this module is the part that touches the world:
- `file:` paths are relative to the spec's folder; one that leaves it (through `..` or
  a symlink) is an error unless `allow_outside`; an absolute path outside it is a host
  path of the machine that runs the job and stays unpinned (hashed with `allow_outside`
  when it exists here). A symlink named by the source is followed; symlinks inside a
  directory are stored as UnixFS symlinks, never followed (as `ipfs add -r` does).
- A file or directory that changes while it is hashed is an error, not a wrong CID.
- Regular files of a chunk or more have their CIDs cached in the store under (device,
  inode, size, mtime, ctime, path) → CID and Tsize (`content-file`); `refresh` bypasses
  the cache. Files modified in the last two seconds are not cached (their mtime may not
  yet tell a later write apart); smaller files are quicker to hash than to look up.
- `http(s)://` is fetched with httpx, with a size limit, a deadline and the sha256 the
  URL's fragment expects (`#sha256=<hex>`); `offline` leaves URLs unpinned.
- `store_content` puts every block into the store, so a CAR export can carry it.

Settings (`CompileOptions.settings`): `allow_outside`, `store_content`, `max_download`
(bytes, default 1 GiB), `http_timeout` (seconds for the whole download, default 600),
`progress` (False turns the progress bar off).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler import sources, unixfs, unixfs_read
from compiler.ir import FrozenMap, Link
from compiler.oracles import Fact
from compiler.sources import ContentError, Unpinnable
from compiler.unixfs import BlockSink, Entry

if TYPE_CHECKING:
    from compiler.oracles.live import LiveContext
    from compiler.store import Store

CACHE_NAMESPACE = "content-file"
DEFAULT_MAX_DOWNLOAD = 1 << 30
DEFAULT_HTTP_TIMEOUT = 600.0
PROGRESS_THRESHOLD = 8 << 20
"""Hashing more than this many bytes shows a progress bar (on a terminal only)."""
RACY_SECONDS = 2.0
"""A file modified this recently is hashed but not cached."""
CACHE_MIN_SIZE = unixfs.CHUNK_SIZE
"""Smaller files are hashed every time: that is quicker than looking them up."""


def handler(context: LiveContext) -> Callable[[Fact], Fact]:
    """The `content` handler of a live compile (registered in `oracles.live.FACTORIES`)."""
    oracle = ContentOracle(context)
    return oracle.answer


class ContentOracle:
    """Answers content questions for one compile."""

    def __init__(self, context: LiveContext) -> None:
        self.context = context
        settings = context.settings
        self.allow_outside = bool(settings.get("allow_outside", False))
        self.store_content = bool(settings.get("store_content", False))
        self.max_download = int(settings.get("max_download", DEFAULT_MAX_DOWNLOAD))
        self.http_timeout = float(settings.get("http_timeout", DEFAULT_HTTP_TIMEOUT))
        self.progress = bool(settings.get("progress", True))
        self._store: Store | bool | None = False  # False: not opened yet; None: unavailable
        self._answered: dict[str, Fact] = {}
        """This compile's answers: a source is hashed (or downloaded) once, however many
        times it is asked about (the fast path asks, then declines, and the pipeline
        asks again)."""

    def answer(self, question: Fact) -> Fact:
        """`{"cid": Link}` for `{"source": …}`; raises ContentError or Unpinnable."""
        source = question.get("source")
        if not isinstance(source, str):
            raise ContentError("a content question needs a `source` string")
        known = self._answered.get(source)
        if known is None:
            known = self._answered[source] = self._answer(source)
        return known

    def _answer(self, source: str) -> Fact:
        kind = sources.kind(source)
        path = None
        if kind == "file":
            path = self.locate(source)
            if not os.path.lexists(path):  # before the store is opened: a typo costs nothing
                raise ContentError("no such file or directory", code="missing")
        elif kind == "http" and self.context.offline:
            raise Unpinnable(
                "offline: the URL was not fetched",
                warn=True,
                hint="compile without --offline to pin it",
            )
        store = self.store() if path is not None or self.store_content else None
        with store.transaction() if store is not None else contextlib.nullcontext():
            hasher = Hasher(
                cache=store,
                refresh=self.context.refresh,
                sink=store_sink(store) if self.store_content and store is not None else None,
                progress=self.progress,
            )
            if path is not None:
                try:
                    entry = hasher.path(path)
                except (OSError, ValueError) as exc:  # what the checks did not foresee
                    message = getattr(exc, "strerror", None) or str(exc)
                    raise ContentError(f"cannot read it: {message}", code="io") from None
            elif kind == "http":
                entry = hasher.url(source, max_bytes=self.max_download, timeout=self.http_timeout)
            else:
                raise Unpinnable(f"jobc cannot read {source.partition(':')[0]}: sources")
        return FrozenMap({"cid": Link(entry.cid)})

    def store(self) -> Store | None:
        """The store for the cache and blocks; None if it cannot be opened (no cache then)."""
        if self._store is False:
            try:
                self._store = self.context.store
            except Exception:  # an unwritable data dir costs the cache, not the compile
                self._store = None
        return self._store  # type: ignore[return-value]

    def locate(self, source: str) -> Path:
        """The real path a `file:` source names, checked against the spec's folder."""
        written = sources.file_path(source)
        if "\x00" in written:
            raise ContentError("a path cannot hold a NUL character", code="bad-path")
        base = Path(os.path.realpath(self.context.base_dir))
        if os.path.isabs(written):
            real = Path(os.path.realpath(written))
            if _inside(real, base):
                return real
            if not self.allow_outside:
                raise Unpinnable(
                    "a host path outside the spec's folder (read on the machine that runs the job)",
                    hint="--allow-outside hashes it here",
                )
            if not os.path.lexists(written):
                raise Unpinnable("a host path that is not on this machine")
            return real
        lexical = Path(os.path.normpath(base / written))
        if not _inside(lexical, base) and not self.allow_outside:
            raise ContentError(
                f"{written} is outside the spec's folder",
                "move the data next to the spec, or pass --allow-outside",
                "outside",
            )
        real = Path(os.path.realpath(lexical))
        if not _inside(real, base) and not self.allow_outside:
            raise ContentError(
                f"{written} leads outside the spec's folder through a symlink (to {real})",
                "copy the data next to the spec, or pass --allow-outside",
                "outside",
            )
        if written.endswith("/") and real.exists() and not real.is_dir():
            raise ContentError(
                f"{written} is a file, not a directory",
                f"write {written.rstrip('/')} (a trailing / says a directory)",
                "not-a-directory",
            )
        return real


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def block_getter(store: Store) -> unixfs_read.GetBlock:
    """Reads blocks from `store` for the UnixFS reader (binary CIDs in)."""

    def get(cid: bytes) -> bytes | None:
        return store.get_block(Link(cid))

    return get


def store_sink(store: Store) -> BlockSink:
    """A block sink that puts every block into `store`."""

    def put(cid: bytes, block: bytes) -> None:
        store.put_block(Link(cid), block)

    return put


def export(link: Link, store: Store, dest: Path, *, read_only: bool = False) -> None:
    """Write the UnixFS content `link` names (a file, directory or symlink) at `dest`,
    from the blocks in `store`: the inverse of hashing, so hashing `dest` again gives
    `link`. Every block is checked against its CID. `dest` must not exist; its parent
    must. `read_only` leaves files mode 0444 and directories 0555 (else 0644 and 0755).

    Raises ContentError when a block is missing or is not UnixFS.
    """

    get = block_getter(store)
    try:
        _export(link.raw, get, dest, read_only)
    except unixfs_read.BlockMissing as exc:
        raise ContentError(
            f"the block {Link(exc.cid)} of {link} is not in the store",
            "compile or run with the data at hand (jobc run keeps the blocks it reads), "
            "or import them",
            "missing-block",
        ) from None
    except (unixfs_read.UnixFSError, UnicodeDecodeError) as exc:
        raise ContentError(f"{link} is not UnixFS content: {exc}", code="not-unixfs") from None


def read_file(link: Link, store: Store) -> Iterator[bytes]:
    """The bytes of the UnixFS file `link` names, chunk by chunk, from the blocks in
    `store` (each checked against its CID). Raises ContentError as `export` does."""

    get = block_getter(store)
    try:
        yield from unixfs_read.file_chunks(link.raw, get)
    except unixfs_read.BlockMissing as exc:
        raise ContentError(
            f"the block {Link(exc.cid)} of {link} is not in the store", code="missing-block"
        ) from None
    except unixfs_read.UnixFSError as exc:
        raise ContentError(f"{link} is not a UnixFS file: {exc}", code="not-unixfs") from None


def _export(cid: bytes, get: unixfs_read.GetBlock, dest: Path, read_only: bool) -> None:
    node = unixfs_read.read_node(cid, get)
    if node.kind == unixfs_read.KIND_SYMLINK:
        os.symlink(node.data, dest)
    elif node.kind in (unixfs_read.KIND_DIRECTORY, unixfs_read.KIND_HAMT):
        dest.mkdir()
        for name, child in unixfs_read.directory_links(node, get):
            _export(child, get, dest / name, read_only)
        if read_only:
            dest.chmod(0o555)
    else:
        # O_EXCL and O_NOFOLLOW: never write through something already at `dest`.
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with open(fd, "wb") as file:
            for chunk in unixfs_read.file_chunks(cid, get, node):
                file.write(chunk)
        if read_only:
            dest.chmod(0o444)


def store_path(path: Path, store: Store) -> Entry:
    """Hash a file or directory and put every block into `store` (for `export` later)."""
    return Hasher(cache=None, sink=store_sink(store), progress=False).path(path)


# --- hashing ------------------------------------------------------------------------------


class Hasher:
    """Hashes paths and URLs into UnixFS entries, with the file cache and a progress bar."""

    def __init__(
        self,
        *,
        cache: Store | None = None,
        refresh: bool = False,
        sink: BlockSink | None = None,
        progress: bool = True,
        on_file: Callable[[Path], None] | None = None,
    ) -> None:
        self.cache = cache
        self.refresh = refresh
        self.sink = sink
        self.meter = Meter(enabled=progress)
        self.on_file = on_file
        """Called after each file is hashed (tests change a tree while it is hashed)."""
        self.hashed_bytes = 0
        """Bytes read from files and URLs (cache hits read nothing)."""
        self._root = Path()

    # -- files

    def _show(self, path: Path) -> str:
        """A path for messages: `it` for the root being hashed, else relative to it."""
        if path == self._root:
            return "it"
        try:
            return path.relative_to(self._root).as_posix()
        except ValueError:
            return str(path)

    def path(self, path: Path) -> Entry:
        """The entry of a file or directory (a symlink given here is followed)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise ContentError("no such file or directory", code="missing") from None
        except OSError as exc:
            raise ContentError(f"cannot read it: {exc.strerror or exc}", code="io") from None
        self._root = path
        try:
            if stat.S_ISDIR(st.st_mode):
                return self._directory(path, st)
            if stat.S_ISREG(st.st_mode):
                return self._file(path, st)
            raise ContentError(
                f"it is {_what(st.st_mode)}, not a regular file or directory",
                "only files, directories and symlinks inside directories can be hashed",
                "not-a-file",
            )
        finally:
            self.meter.close()

    def _directory(self, path: Path, st: os.stat_result) -> Entry:
        listing = _listing(path, self._show(path))
        entries: list[tuple[bytes, Entry]] = []
        for name in listing:
            child = path / name
            try:
                name_bytes = name.encode("utf-8")
            except UnicodeEncodeError:
                raise ContentError(
                    f"the name of {os.fsencode(child)!r} is not UTF-8",
                    "UnixFS names are UTF-8 text: rename the file",
                    "bad-name",
                ) from None
            try:
                cst = os.lstat(child)
            except FileNotFoundError:
                raise _changed(self._show(path), f"{name} went away") from None
            mode = cst.st_mode
            if stat.S_ISDIR(mode):
                entry = self._directory(child, cst)
            elif stat.S_ISREG(mode):
                entry = self._file(child, cst)
            elif stat.S_ISLNK(mode):
                entry = unixfs.symlink_entry(_readlink(child, self._show(child)), self.sink)
            else:
                raise ContentError(
                    f"{self._show(child)} is {_what(mode)}: a directory to hash may hold "
                    "only files, directories and symlinks",
                    code="not-a-file",
                )
            entries.append((name_bytes, entry))
        try:
            after = os.stat(path)
            again = _listing(path, self._show(path))
        except OSError:
            raise _changed(self._show(path), "it went away") from None
        if (after.st_ino, after.st_mtime_ns) != (st.st_ino, st.st_mtime_ns) or again != listing:
            raise _changed(self._show(path), "entries were added, removed or renamed")
        try:
            return unixfs.directory_entry(entries, self.sink)
        except unixfs.HashCollision as exc:
            raise ContentError(
                f"{self._show(path)}: {exc}", "rename one of them", "hash-collision"
            ) from None

    def _file(self, path: Path, st: os.stat_result) -> Entry:
        cache = self.cache if st.st_size >= CACHE_MIN_SIZE else None
        key = _cache_key(path, st) if cache is not None else ""
        if cache is not None and not self.refresh:
            hit = cache.cache_get(CACHE_NAMESPACE, key)
            if isinstance(hit, dict) and self._usable(hit):
                entry = Entry(Link.parse(hit["cid"]).raw, int(hit["tsize"]), st.st_size)
                return entry
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOCTTY", 0))
        except OSError as exc:
            raise ContentError(
                f"cannot read {self._show(path)}: {exc.strerror or exc}",
                "check the file's permissions" if isinstance(exc, PermissionError) else "",
                "unreadable",
            ) from None
        with open(fd, "rb", buffering=0) as stream:
            before = os.fstat(fd)
            if (before.st_dev, before.st_ino) != (st.st_dev, st.st_ino):
                raise _changed(self._show(path), "it was replaced")
            builder = unixfs.FileBuilder(self.sink)
            self.meter.start(str(path), st.st_size)
            try:
                read = builder.read_from(stream, self.meter.advance)
            except OSError as exc:
                raise ContentError(
                    f"cannot read {self._show(path)}: {exc.strerror or exc}", code="unreadable"
                ) from None
            after = os.fstat(fd)
        self.hashed_bytes += read
        if (
            read != before.st_size
            or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
            or (before.st_size, before.st_mtime_ns) != (st.st_size, st.st_mtime_ns)
        ):
            raise _changed(self._show(path), "it was written to")
        entry = builder.finish()
        if cache is not None and time.time() - after.st_mtime_ns / 1e9 > RACY_SECONDS:
            cache.cache_put(
                CACHE_NAMESPACE, key, {"cid": str(Link(entry.cid)), "tsize": entry.tsize}, ttl=None
            )
        if self.on_file is not None:
            self.on_file(path)
        return entry

    def _usable(self, hit: dict[str, Any]) -> bool:
        """A cached CID serves unless blocks are wanted and the store does not have them."""
        if not isinstance(hit.get("cid"), str) or not isinstance(hit.get("tsize"), int):
            return False
        if self.sink is None:
            return True
        assert self.cache is not None
        return self.cache.has_block(Link.parse(hit["cid"]))

    # -- URLs

    def url(self, source: str, *, max_bytes: int, timeout: float) -> Entry:
        """Fetch an http(s) source and hash its body as a file."""
        import httpx

        target = sources.url(source)
        shown = target.fetch
        deadline = time.monotonic() + timeout
        builder = unixfs.FileBuilder(self.sink)
        digest = hashlib.sha256() if target.sha256 else None
        try:
            with (
                httpx.Client(
                    follow_redirects=True,
                    timeout=httpx.Timeout(min(timeout, 30.0)),
                    headers={"Accept-Encoding": "identity", "User-Agent": "jobc"},
                ) as client,
                client.stream("GET", target.fetch) as response,
            ):
                if response.status_code >= 400:
                    raise ContentError(
                        f"{shown}: HTTP {response.status_code} {response.reason_phrase}",
                        "check the URL" if response.status_code == 404 else "",
                        "http-status",
                    )
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > max_bytes:
                    raise _too_large(shown, int(length), max_bytes)
                self.meter.start(shown, int(length) if length.isdigit() else None)
                for chunk in response.iter_bytes():
                    if builder.size + len(chunk) > max_bytes:
                        raise _too_large(shown, None, max_bytes)
                    if time.monotonic() > deadline:
                        raise ContentError(
                            f"{shown}: the download took longer than {timeout:g} s",
                            "a faster server, or a longer --http-timeout",
                            "http-timeout",
                        )
                    builder.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
                    self.meter.advance(len(chunk))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError):
            # The host may be one only the nodes that run jobs can reach: not an error.
            host = httpx.URL(target.fetch).host
            raise Unpinnable(
                f"cannot connect to {host} from here",
                warn=True,
                hint="compile where the host can be reached, or give an ipfs:// CID",
            ) from None
        except httpx.TimeoutException:
            raise ContentError(
                f"{shown}: the server did not answer in time", code="http-timeout"
            ) from None
        except httpx.RemoteProtocolError as exc:
            raise ContentError(
                f"{shown}: the server broke off the transfer ({exc})",
                "the body was shorter than its Content-Length, or not HTTP",
                "http-protocol",
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ContentError(f"cannot fetch {shown}: {exc}", code="http") from None
        finally:
            self.meter.close()
        self.hashed_bytes += builder.size
        if digest is not None and digest.hexdigest() != target.sha256:
            raise ContentError(
                f"{shown}: its sha256 is {digest.hexdigest()}, not the {target.sha256} "
                "the spec expects",
                "the content changed since the digest was written: check it, then "
                "update the digest",
                "digest-mismatch",
            )
        return builder.finish()

    def data(self, data: bytes) -> Entry:
        """The entry of bytes in memory."""
        return unixfs.file_entry(data, self.sink)


def _cache_key(path: Path, st: os.stat_result) -> str:
    # The device and inode say which file; the path (absolute, symlinks already resolved
    # by `locate`) makes a moved or hard-linked file a new entry, which is only safer.
    return (
        f"{unixfs.PROFILE}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}|"
        f"{st.st_ctime_ns}|{os.path.abspath(path)}"
    )


def _listing(path: Path, shown: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            names = [e.name for e in it]
    except PermissionError as exc:
        raise ContentError(
            f"cannot list {shown}: {exc.strerror}", "check its permissions", "unreadable"
        ) from None
    except OSError as exc:
        raise ContentError(f"cannot list {shown}: {exc.strerror or exc}", code="io") from None
    # Names are sorted by their bytes (as dag-pb sorts links); surrogate escapes sort
    # as the bytes they stand for.
    return sorted(names, key=os.fsencode)


def _readlink(path: Path, shown: str) -> bytes:
    target = os.readlink(os.fsencode(path))
    try:
        target.decode("utf-8")
    except UnicodeDecodeError:
        raise ContentError(
            f"the target of the symlink {shown} is not UTF-8", code="bad-name"
        ) from None
    return target


def _changed(shown: str, how: str) -> ContentError:
    return ContentError(
        f"{shown} changed while it was hashed: {how}",
        "hash data that is not being written to (wait for the writer, or copy it first)",
        "changed",
    )


def _too_large(url: str, length: int | None, limit: int) -> ContentError:
    size = f" ({length:,} bytes)" if length is not None else ""
    return ContentError(
        f"{url} is larger than the download limit of {limit:,} bytes{size}",
        "raise the limit with --max-download, or pin the data with ipfs:// instead",
        "too-large",
    )


def _what(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


# --- progress -----------------------------------------------------------------------------


class Meter:
    """A rich progress bar on stderr for large hashes, on a terminal only."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled and _tty()
        self._bar: Any = None
        self._task: Any = None
        self._pending = 0
        self._label = ""
        self._total: int | None = None

    def start(self, label: str, total: int | None) -> None:
        """A new file or download begins (`total` bytes, when known)."""
        if not self.enabled:
            return
        self._label, self._total = label, total
        if self._bar is not None:
            self._bar.update(self._task, description=_short(label), total=total, completed=0)
        elif total is not None and total > PROGRESS_THRESHOLD:
            self._open()

    def advance(self, n: int) -> None:
        """`n` more bytes were hashed."""
        if not self.enabled:
            return
        if self._bar is None:
            self._pending += n
            if self._pending <= PROGRESS_THRESHOLD:
                return
            self._open()
            n, self._pending = self._pending, 0
        self._bar.advance(self._task, n)

    def _open(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            TextColumn("hashing {task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(_short(self._label), total=self._total)
        if self._pending:
            self._bar.advance(self._task, self._pending)
            self._pending = 0

    def close(self) -> None:
        """Take the bar off the screen."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        self._pending = 0


def _tty() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)()) and "JOBC_NO_PROGRESS" not in (
        os.environ
    )


def _short(label: str) -> str:
    return label if len(label) <= 40 else "…" + label[-39:]
