"""Reading a CKAN datastore resource through ckanapi: metadata, the fields and their
fingerprint, and the records page by page in `_id` order.

Paging, best first: `datastore_search` with a range filter on `_id` (keyset, CKAN 2.12+),
`datastore_search_sql` with `WHERE _id > …` where the portal allows SQL, and offset paging as
the last resort (slow on large tables, and a record inserted meanwhile shifts the pages). The
strategy that worked is remembered on the source.
"""

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import ckanapi
from ckanapi.errors import CKANAPIError

from .network import (
    RETRY_STATUSES,
    GuardedSession,
    MeteredClient,
    Retrier,
    SourceUnreachable,
    is_transient_network_error,
    retry_after_seconds,
    timeouts,
)

KEYSET = "keyset"
SQL = "sql"
OFFSET = "offset"
STRATEGIES = (KEYSET, SQL, OFFSET)
_RESOURCE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


class TransientPortalError(SourceUnreachable):
    """A 429 or 5xx answer: worth retrying, after Retry-After when the portal gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PortalRefused(SourceUnreachable):
    """The portal answered with an error that retrying will not change."""


@dataclass
class ResourceInfo:
    datastore_active: bool
    last_modified: str
    hash: str
    package_id: str
    name: str
    package_title: str
    package_modified: str
    fields: list[dict]
    total: int

    @property
    def field_types(self) -> dict[str, str]:
        return {f["id"]: f.get("type", "") for f in self.fields if not f["id"].startswith("_")}

    @property
    def fingerprint(self) -> str:
        pairs = sorted(self.field_types.items())
        return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


@dataclass
class Page:
    records: list[dict]
    #: The last `_id` of the page and the offset after it: where the next page starts.
    last_id: int
    offset: int
    strategy: str


class CkanClient(MeteredClient):
    def __init__(self, *, url: str, resource_id: str, token_env: str = "", sleep=None):
        if not _RESOURCE_ID.match(resource_id or ""):
            raise PortalRefused(f"{resource_id!r} is not a CKAN resource id.")
        self.resource_id = resource_id
        self.session = GuardedSession()
        token = os.environ.get(token_env) if token_env else None
        self.ckan = ckanapi.RemoteCKAN(
            url, apikey=token or None, user_agent="property-platform-sync", session=self.session
        )
        self.retrier = Retrier(**({"sleep": sleep} if sleep else {}))

    def close(self):
        self.ckan.close()

    # --- calls --------------------------------------------------------------------------

    def call(self, action: str, **data):
        def attempt():
            try:
                return self.ckan.call_action(action, data, requests_kwargs={"timeout": timeouts()})
            except CKANAPIError as error:
                raise self._translated(action, error) from error

        return self.retrier.call(attempt, retryable=_retryable)

    def _translated(self, action: str, error: CKANAPIError) -> Exception:
        response = self.session.last_response
        status = response.status_code if response is not None else 0
        if status in RETRY_STATUSES:
            return TransientPortalError(
                f"{action}: the portal answered {status}",
                retry_after=retry_after_seconds(response),
            )
        if isinstance(error, ckanapi.NotFound):
            return PortalRefused(f"{action}: not found ({error})")
        if isinstance(error, ckanapi.NotAuthorized):
            return PortalRefused(f"{action}: not authorised; check the source's API token")
        if isinstance(error, ckanapi.ValidationError):
            return PortalRefused(f"{action}: the portal refused the request ({error})")
        return PortalRefused(f"{action}: the portal answered {status}: {str(error)[:300]}")

    # --- metadata -----------------------------------------------------------------------

    def resource(self) -> ResourceInfo:
        meta = self.call("resource_show", id=self.resource_id)
        if not meta.get("datastore_active"):
            raise PortalRefused(
                f"Resource {self.resource_id} has no datastore table (datastore_active is off)."
            )
        package_id = meta.get("package_id", "")
        package = {}
        if package_id:
            # The dataset's metadata is read for provenance; a failure here is not fatal.
            with contextlib.suppress(PortalRefused):
                package = self.call("package_show", id=package_id) or {}
        head = self.call("datastore_search", resource_id=self.resource_id, limit=0)
        return ResourceInfo(
            datastore_active=True,
            last_modified=meta.get("last_modified") or "",
            hash=meta.get("hash") or "",
            package_id=package_id,
            name=meta.get("name") or "",
            package_title=package.get("title") or "",
            package_modified=package.get("metadata_modified") or "",
            fields=head.get("fields", []),
            total=int(head.get("total") or 0),
        )

    def record_with_id(self, record_id: int) -> dict | None:
        result = self.call(
            "datastore_search", resource_id=self.resource_id, filters={"_id": record_id}, limit=1
        )
        records = result.get("records") or []
        return records[0] if records else None

    # --- records ------------------------------------------------------------------------

    def pages(
        self, *, after_id: int, offset: int, page_size: int, strategy: str | None
    ) -> Iterator[Page]:
        """Pages of records with `_id` above `after_id`, in `_id` order. With no strategy
        known, the first page tries each in turn."""
        candidates = [strategy] if strategy else list(STRATEGIES)
        while True:
            records, used = self._first_that_works(candidates, after_id, offset, page_size)
            candidates = [used]
            if not records:
                return
            after_id = int(records[-1]["_id"])
            offset += len(records)
            yield Page(records=records, last_id=after_id, offset=offset, strategy=used)
            if len(records) < page_size:
                return

    def _first_that_works(self, candidates, after_id, offset, page_size):
        refusals = []
        for name in candidates:
            try:
                records = self._page(name, after_id, offset, page_size)
            except PortalRefused as error:
                if len(candidates) == 1:
                    raise
                refusals.append(f"{name}: {error}")
                continue
            if name != OFFSET and any(int(r["_id"]) <= after_id for r in records):
                # A portal that ignored the range filter.
                refusals.append(f"{name}: the portal ignored the _id range")
                continue
            return records, name
        raise PortalRefused("No paging method worked: " + "; ".join(refusals))

    def _page(self, strategy, after_id, offset, page_size) -> list[dict]:
        rid = self.resource_id
        if strategy == KEYSET:
            result = self.call(
                "datastore_search",
                resource_id=rid,
                filters={"_id": {"gt": after_id}},
                sort="_id",
                limit=page_size,
                include_total=False,
            )
        elif strategy == SQL:
            # The resource id was checked against _RESOURCE_ID; the numbers are ints.
            sql = (
                f'SELECT * FROM "{rid}" WHERE _id > {int(after_id)} '
                f"ORDER BY _id LIMIT {int(page_size)}"
            )
            result = self.call("datastore_search_sql", sql=sql)
        else:
            result = self.call(
                "datastore_search", resource_id=rid, sort="_id", offset=offset, limit=page_size
            )
        return result.get("records") or []


def _retryable(error: Exception) -> bool:
    return isinstance(error, TransientPortalError) or is_transient_network_error(error)
