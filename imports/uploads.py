"""An upload is refused while it arrives, not after it has been stored.

Django's own upload handlers spool a file of any size to a temporary file before a form or a
service can look at it, so a limit checked there (import_job_create) still lets a client fill
the disk. This handler sits first in FILE_UPLOAD_HANDLERS: it counts each file's bytes as they
arrive and, past IMPORT_MAX_UPLOAD_BYTES, drops the file (SkipFile: the handlers after it close
and delete what they spooled, the rest of that file is read and discarded, not stored) and
leaves the refusal on the request for the form to show. The other fields still arrive, so the
page answers with a sentence instead of a reset connection.
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


def oversize_sentence() -> str:
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    return f"The file is larger than IMPORT_MAX_UPLOAD_BYTES ({limit:,} bytes); nothing was stored."


def upload_refusals(request) -> dict[str, str]:
    """Field name -> sentence for each file this request's upload handler dropped."""
    return getattr(request, "refused_uploads", {})


class UploadSizeLimit(FileUploadHandler):
    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.IMPORT_MAX_UPLOAD_BYTES:
            refused = upload_refusals(self.request)
            self.request.refused_uploads = {**refused, self.field_name: oversize_sentence()}
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler builds the file
