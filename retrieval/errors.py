"""The retrieval package's error tree: each error carries text a user can act on."""


class RetrievalError(Exception):
    """Base of every error raised by retrieval; the message is shown to the user as is."""


class InvalidSignal(RetrievalError):
    """An input line or request body that cannot become a signal."""


class IndexBusy(RetrievalError):
    """The embedded vector index is held by another Ballast process."""


class ModelUnavailable(RetrievalError):
    """The embedding model's files are missing or do not match their pinned hash."""
