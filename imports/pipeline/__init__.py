"""The import pipeline (core), its writers, rejected-rows reports and seen-ids table."""

from .core import ImportPipeline, OnDuplicate, PipelineResult
from .reports import RejectedRowsReport, StoredRejectedRows, rejected_report_save
from .sqlite_writer import SqliteWriter
from .writers import CopyWriter, NullWriter, OrmBulkWriter, PropertyWriter, writer_for

__all__ = [
    "CopyWriter",
    "ImportPipeline",
    "NullWriter",
    "OnDuplicate",
    "OrmBulkWriter",
    "PipelineResult",
    "PropertyWriter",
    "RejectedRowsReport",
    "SqliteWriter",
    "StoredRejectedRows",
    "rejected_report_save",
    "writer_for",
]
