"""The workbench: where the people who oversee the pipeline work (coding review queue,
held claims, claim timelines, access audit). A Django app over a SQL read model that the
projector (``services.workbench.projector``) builds from the topics; what a person decides
is published as an event (``coding.resolutions.v1``, ``claims.corrected.v1``), never
written into another service's state."""
