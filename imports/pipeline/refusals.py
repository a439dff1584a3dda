"""How a write the database refused is reported: a sentence for the rejected-rows report, the
driver's own text (table and constraint names, not what the user can fix) in the server log."""

import logging

logger = logging.getLogger(__name__)

#: What a row the database refused gets in the rejected-rows report; the driver's own text
#: goes to the server log only (it names tables and constraints, not what the user can fix).
REFUSED_BY_DATABASE = (
    "could not be stored: the database refused a value of this row (the server log has the "
    "details); the other rows of its batch were stored"
)
STORED_MEANWHILE = "could not be stored: another import stored this id at the same time"


def refusal_sentence(exc: Exception) -> str:
    """A row's IntegrityError in words: a unique conflict is a concurrent import's row."""
    cause = exc.__cause__ or exc
    unique = getattr(cause, "sqlstate", None) == "23505" or "UNIQUE constraint" in str(cause)
    logger.warning("The database refused an imported row: %s", exc)
    return STORED_MEANWHILE if unique else REFUSED_BY_DATABASE
