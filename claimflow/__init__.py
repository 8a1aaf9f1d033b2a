"""claimflow: shared contracts and plumbing (topic registry, codec, models, settings,
dead-letter helper, metrics). Business rules live in ``services/``."""

__version__ = "0.1.0"
