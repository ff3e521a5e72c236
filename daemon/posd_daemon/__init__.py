"""posd: the point-of-sale device daemon."""

__version__ = "0.1.0"
