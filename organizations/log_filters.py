"""Logging filters, importable while Django configures logging (before the app registry is
ready), so they import the refusal wording only when a record arrives."""

import logging


class OneLineRefusals(logging.Filter):
    """A refusal is an expected outcome, not a fault: `django.request` logs it as one line with
    who was refused and why, instead of a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Logging may be configured twice in one process (runserver sets Django up again for
        # its WSGI handler), which attaches the filter twice; a record is rewritten once.
        if getattr(record, "status_code", None) != 403 or getattr(record, "refusal", False):
            return True
        from .refusals import GENERIC_REFUSAL, refusal_sentence

        exception = record.exc_info[1] if record.exc_info else None
        request = getattr(record, "request", None)
        user = getattr(request, "user", None)
        reason = refusal_sentence(request, exception) if request is not None else GENERIC_REFUSAL
        record.msg = f"{record.getMessage()} user={user or '-'}: {reason}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.refusal = True
        return True
