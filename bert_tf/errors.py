"""The errors that mean bad input (flags, files, data) rather than a bug in bert_tf.

Scripts print these as one line, without a traceback; anything else is a bug
and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input: the message names the flag, file, line or key to fix."""


class DataError(UserError):
    """Unreadable or inconsistent data; the message names the file and line (or id)."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or directory the input names does not exist; the message names it."""


# What a script reports as one line: ours, and missing files raised by Python itself.
USER_ERRORS = (UserError, FileNotFoundError)
