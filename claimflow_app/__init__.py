"""The composition root: the one package that knows every service.

``claimflow`` (the shared package) knows no service; the services import ``claimflow``;
this package imports both and wires them together: the service registry, the
``claimflow`` command line and the demo."""
