"""A CKAN portal and a file server on 127.0.0.1 for the sources tests: a real HTTP server
(pytest-httpserver) answering the Action API as CKAN does, with faults on demand."""

import json
import re
import threading
import time
from dataclasses import dataclass, field

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

RESOURCE_ID = "5c1e2a3b-property-valuations"
PACKAGE_ID = "vic-property-valuations"
ROWS_MAX = 32_000

FIELDS = [
    {"id": "property_pfi", "type": "text"},
    {"id": "street_address", "type": "text"},
    {"id": "locality", "type": "text"},
    {"id": "postcode", "type": "text"},
    {"id": "state", "type": "text"},
    {"id": "valuation", "type": "numeric"},
    {"id": "land_area_m2", "type": "numeric"},
    {"id": "latitude", "type": "float8"},
    {"id": "longitude", "type": "float8"},
    {"id": "zone", "type": "text"},
]
OVERRIDES = {"property_pfi": "propertyid"}
SUBURBS = ["Richmond", "Fitzroy", "Carlton", "Brunswick", "Northcote", "Collingwood"]


def make_record(number: int, **changes) -> dict:
    record = {
        "property_pfi": f"PFI{number:07d}",
        "street_address": f"{number} Swan Street",
        "locality": SUBURBS[number % len(SUBURBS)],
        "postcode": "3121",
        "state": "VIC",
        "valuation": 650_000 + number * 10,
        "land_area_m2": 400 + number % 300,
        "latitude": -37.82 + number * 1e-5,
        "longitude": 144.99 + number * 1e-5,
        "zone": "GRZ1",
    }
    record.update(changes)
    return record


@dataclass
class Fault:
    action: str
    status: int = 503
    times: int = 1
    retry_after: str = ""
    delay: float = 0.0
    #: Only when the request's _id range starts above this (None: any request of the action).
    after_id: int | None = None


@dataclass
class Resource:
    fields: list
    records: list  # each with its _id
    last_modified: str = "2026-11-30T21:00:00"


@dataclass
class Portal:
    url: str
    server: HTTPServer
    resources: dict = field(default_factory=dict)
    keyset: bool = True
    sql: bool = True
    token: str = ""
    faults: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- set-up ---------------------------------------------------------------------------

    def load(self, records: list[dict], *, fields=None, first_id: int = 1, rid=RESOURCE_ID):
        """(Re)load a resource, as CKAN's datastore_create does: _ids are numbered afresh."""
        rows = [{"_id": first_id + i, **record} for i, record in enumerate(records)]
        self.resources[rid] = Resource(fields=list(fields or FIELDS), records=rows)

    def fail(self, action: str, **kwargs):
        self.faults.append(Fault(action=action, **kwargs))

    def publish(self, name: str, body: bytes, *, etag: str, last_modified: str = ""):
        self.files[name] = {"body": body, "etag": etag, "last_modified": last_modified}

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]

    # --- serving --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/files/"):
            return self._file(request)
        action = request.path.rsplit("/", 1)[-1]
        data = json.loads(request.get_data() or b"{}") if request.method == "POST" else {}
        with self.lock:
            self.calls.append((action, data))
            fault = self._fault_for(action, data)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            else:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return Response(
                    "<html><body>Service Unavailable</body></html>",
                    status=fault.status,
                    headers=headers,
                    content_type="text/html",
                )
        if self.token and request.headers.get("Authorization") != self.token:
            return _error(403, "Authorization Error", "Access denied")
        handler = getattr(self, f"_{action}", None)
        if handler is None:
            return _error(400, "Bad request", f"Action name not known: {action}")
        return handler(data)

    def _fault_for(self, action, data):
        for fault in self.faults:
            if fault.action != action or fault.times <= 0:
                continue
            if fault.after_id is not None and _lower_id(data) <= fault.after_id:
                continue
            fault.times -= 1
            return fault
        return None

    def _resource(self, rid):
        return self.resources.get(rid)

    def _resource_show(self, data):
        resource = self._resource(data.get("id"))
        if resource is None:
            return _error(404, "Not Found Error", "Not found: Resource was not found.")
        return _ok(
            {
                "id": data["id"],
                "package_id": PACKAGE_ID,
                "name": "Property valuations 2026",
                "format": "CSV",
                "datastore_active": True,
                "hash": "",
                "last_modified": resource.last_modified,
                "url": f"{self.url}/datastore/dump/{data['id']}",
            }
        )

    def _package_show(self, data):
        return _ok(
            {
                "id": PACKAGE_ID,
                "name": PACKAGE_ID,
                "title": "Property valuations",
                "metadata_modified": "2026-11-30T21:00:00",
                "num_resources": 1,
            }
        )

    def _datastore_search(self, data):
        rid = data.get("resource_id")
        resource = self._resource(rid)
        if resource is None:
            return _error(404, "Not Found Error", "Not found: Resource was not found.")
        rows = resource.records
        for name, wanted in (data.get("filters") or {}).items():
            if isinstance(wanted, dict):
                if not self.keyset:
                    return _error(
                        409, "Validation Error", None, filters=[f"invalid value for field {name}"]
                    )
                rows = [r for r in rows if r[name] > wanted["gt"]]
            else:
                rows = [r for r in rows if r[name] == wanted]
        if data.get("sort") == "_id":
            rows = sorted(rows, key=lambda r: r["_id"])
        limit = min(int(data.get("limit", 100)), ROWS_MAX)
        offset = int(data.get("offset", 0))
        page = rows[offset : offset + limit]
        fields = [{"id": "_id", "type": "int"}, *resource.fields]
        names = [f["id"] for f in fields]
        result = {
            "include_total": data.get("include_total", True),
            "resource_id": rid,
            "fields": fields,
            "records_format": "objects",
            "records": [{name: row.get(name) for name in names} for row in page],
            "limit": limit,
            "offset": offset,
            "_links": {
                "start": f"/api/action/datastore_search?resource_id={rid}",
                "next": f"/api/action/datastore_search?resource_id={rid}&offset={offset + limit}",
            },
        }
        if data.get("include_total", True):
            result["total"] = len(rows)
        return _ok(result)

    def _datastore_search_sql(self, data):
        if not self.sql:
            return _error(
                403,
                "Authorization Error",
                "Access denied: datastore_search_sql is not enabled on this portal",
            )
        match = re.match(
            r'SELECT \* FROM "([^"]+)" WHERE _id > (\d+) ORDER BY _id LIMIT (\d+)',
            data.get("sql", ""),
        )
        if not match or self._resource(match.group(1)) is None:
            return _error(409, "Validation Error", None, query=["Invalid SQL"])
        resource = self._resource(match.group(1))
        after, limit = int(match.group(2)), min(int(match.group(3)), ROWS_MAX)
        rows = sorted((r for r in resource.records if r["_id"] > after), key=lambda r: r["_id"])
        names = ["_id", *(f["id"] for f in resource.fields)]
        return _ok(
            {
                "sql": data["sql"],
                "fields": [{"id": "_id", "type": "int4"}, *resource.fields],
                "records": [
                    {**{n: r.get(n) for n in names}, "_full_text": "'x'"} for r in rows[:limit]
                ],
            }
        )

    def _file(self, request: Request) -> Response:
        name = request.path.removeprefix("/files/")
        with self.lock:
            self.calls.append(("GET " + name, dict(request.headers)))
            fault = self._fault_for("GET " + name, {})
        if fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return Response("busy", status=fault.status, headers=headers)
        published = self.files.get(name)
        if published is None:
            return Response("not found", status=404)
        headers = {"ETag": published["etag"]}
        if published["last_modified"]:
            headers["Last-Modified"] = published["last_modified"]
        if request.headers.get("If-None-Match") == published["etag"]:
            return Response(status=304, headers=headers)
        return Response(published["body"], status=200, headers=headers, content_type="text/csv")


def _lower_id(data) -> int:
    range_filter = (data.get("filters") or {}).get("_id")
    if isinstance(range_filter, dict):
        return int(range_filter.get("gt", 0))
    match = re.search(r"_id > (\d+)", data.get("sql", ""))
    if match:
        return int(match.group(1))
    return int(data.get("offset", 0))


def _ok(result) -> Response:
    body = {
        "help": "https://portal.example/api/3/action/help_show",
        "success": True,
        "result": result,
    }
    return Response(json.dumps(body), status=200, content_type="application/json")


def _error(status, kind, message, **details) -> Response:
    error = {"__type": kind, **details}
    if message is not None:
        error["message"] = message
    body = {
        "help": "https://portal.example/api/3/action/help_show",
        "success": False,
        "error": error,
    }
    return Response(json.dumps(body), status=status, content_type="application/json")
