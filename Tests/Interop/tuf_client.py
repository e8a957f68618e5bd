#!/usr/bin/env python3
"""Consume a Firmchain TUF repository with python-tuf's ngclient, offline.

    tuf_client.py REPO_DIR TRUSTED_ROOT DOWNLOAD_DIR [TARGET ...]

With FIRMCHAIN_TUF_STATE=DIR the client keeps its trusted metadata in DIR between runs (to test
rollback protection); otherwise it starts from TRUSTED_ROOT each time.

REPO_DIR holds metadata/ and targets/ (Firmchain's OUT/repository). The client is
bootstrapped with TRUSTED_ROOT (1.root.json), refreshes (walking N.root.json, timestamp,
snapshot, targets), then downloads and verifies every TARGET (all targets when none are
named). Prints one JSON line: {"ok": true, "targets": {...}} or {"ok": false, "error": ...}
and exits 0 / 1. A local fetcher maps URLs to files: no network.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
from urllib.parse import unquote, urlparse

from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import FetcherInterface, Updater


class LocalFetcher(FetcherInterface):
    """Serves http://repo/... from a directory, 404 for what is missing."""

    def __init__(self, root):
        self.root = root

    def _fetch(self, url):
        path = os.path.join(self.root, unquote(urlparse(url).path).lstrip("/"))
        if not os.path.isfile(path):
            raise DownloadHTTPError(f"not found: {url}", 404)
        with open(path, "rb") as f:
            data = f.read()
        return iter([data])


def main():
    repo, trusted_root, download_dir, *names = sys.argv[1:]
    state = os.environ.get("FIRMCHAIN_TUF_STATE")
    meta_dir = state or tempfile.mkdtemp(prefix="tuf-client-")
    try:
        os.makedirs(meta_dir, exist_ok=True)
        updater = Updater(
            metadata_dir=meta_dir,
            metadata_base_url="http://repo/metadata/",
            target_dir=download_dir,
            target_base_url="http://repo/targets/",
            fetcher=LocalFetcher(repo),
            bootstrap=open(trusted_root, "rb").read(),
        )
        updater.refresh()
        if not names:
            names = sorted(updater._trusted_set.targets.targets.keys())
        out = {}
        for name in names:
            info = updater.get_targetinfo(name)
            if info is None:
                raise RuntimeError(f"target {name} not in metadata")
            local = name.replace("/", "_")
            if len(local.encode()) > 200:  # a long target name: the local file gets a short one
                local = hashlib.sha256(name.encode()).hexdigest()
            path = updater.download_target(info, os.path.join(download_dir, local))
            out[name] = {"path": path, "length": info.length, "custom": info.custom}
        print(json.dumps({"ok": True, "targets": out, "root_version": updater._trusted_set.root.version}))
        return 0
    except Exception as e:  # the test asserts on the class name and message
        print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}))
        return 1
    finally:
        if not state:
            shutil.rmtree(meta_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
