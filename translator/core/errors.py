"""The one exception type that the command line prints as a single line, without a traceback."""


class UserError(Exception):
    """A problem the user can fix (bad input, missing file, bad config): say what and how."""
