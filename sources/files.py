"""Published files: a conditional GET (ETag, If-Modified-Since) into a temporary file, hashed
as it streams, so an unchanged file ends the run before anything is read."""

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import requests

from .network import (
    RETRY_STATUSES,
    GuardedSession,
    MeteredClient,
    Retrier,
    SourceUnreachable,
    is_transient_network_error,
    retry_after_seconds,
)

CHUNK_BYTES = 1024 * 1024


class FileGone(SourceUnreachable):
    pass


class _Transient(SourceUnreachable):
    def __init__(self, message, *, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class FetchedFile:
    not_modified: bool
    etag: str = ""
    last_modified: str = ""
    sha256: str = ""
    file_name: str = ""
    #: A temporary file opened for reading, positioned at its start (None when not modified).
    stream: object = None


class FileClient(MeteredClient):
    def __init__(self, *, url: str, sleep=None):
        self.url = url
        self.session = GuardedSession()
        self.retrier = Retrier(**({"sleep": sleep} if sleep else {}))

    def close(self):
        self.session.close()

    def fetch(self, *, etag: str = "", last_modified: str = "") -> FetchedFile:
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self.retrier.call(lambda: self._get(headers), retryable=_retryable)

    def _get(self, headers) -> FetchedFile:
        with self.session.get(self.url, headers=headers, stream=True) as response:
            if response.status_code == 304:
                return FetchedFile(
                    not_modified=True,
                    etag=response.headers.get("ETag", headers.get("If-None-Match", "")),
                    last_modified=response.headers.get("Last-Modified", ""),
                )
            if response.status_code in RETRY_STATUSES:
                raise _Transient(
                    f"the file server answered {response.status_code}",
                    retry_after=retry_after_seconds(response),
                )
            if response.status_code != 200:
                raise FileGone(f"the file server answered {response.status_code} for {self.url}")
            digest = hashlib.sha256()
            spool = tempfile.TemporaryFile()  # noqa: SIM115 (returned open to the caller)
            try:
                for chunk in response.iter_content(CHUNK_BYTES):
                    digest.update(chunk)
                    spool.write(chunk)
                    self.session.bytes_received += len(chunk)
            except BaseException:
                spool.close()
                raise
            spool.seek(0)
            return FetchedFile(
                not_modified=False,
                etag=response.headers.get("ETag", ""),
                last_modified=response.headers.get("Last-Modified", ""),
                sha256=digest.hexdigest(),
                file_name=PurePosixPath(urlsplit(self.url).path).name or "download.csv",
                stream=spool,
            )


def _retryable(error: Exception) -> bool:
    return isinstance(error, _Transient) or (
        is_transient_network_error(error) and not isinstance(error, requests.TooManyRedirects)
    )
