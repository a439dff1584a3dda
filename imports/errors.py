class FileRefused(Exception):
    """The file cannot be read as a property file; the message says why, for the user."""
