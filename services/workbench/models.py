"""The workbench's SQL read model. Rows are built by the projector from the topics and are
keyed by business ids, so a redelivered event rewrites the same row (idempotent). Schema
changes go through migrations (``claimflow workbench migrate``)."""

from __future__ import annotations

from django.db import models


class ReviewStatus(models.TextChoices):
    OPEN = "open", "open"
    SUBMITTED = "submitted", "resolution submitted"  # published, the coder has not answered yet
    CODED = "coded", "coded"
    QUERIED = "queried", "sent back for documentation"


class Encounter(models.Model):
    """What the EHR documented (encounters.v1): the PHI a coder reads on the item page."""

    encounter_id = models.CharField(primary_key=True, max_length=64)
    version = models.IntegerField()
    payer_id = models.CharField(max_length=80, blank=True, default="")
    payer_name = models.CharField(max_length=120, blank=True, default="")
    date_of_service = models.DateField()
    place_of_service = models.CharField(max_length=2)
    document = models.JSONField()  # the EncounterEvent as JSON (patient, coverage, diagnoses, procedures, note)
    received_at = models.DateTimeField()


class ReviewItem(models.Model):
    """One encounter in the coding review queue (coding.review.v1); the newest routing wins."""

    encounter_id = models.CharField(primary_key=True, max_length=64)
    encounter_version = models.IntegerField()
    routed_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    primary_reason = models.CharField(max_length=40)
    reason_codes = models.CharField(max_length=400)  # space-separated, for display
    reasons = models.JSONField()
    confidence = models.FloatField()
    proposed_diagnoses = models.JSONField(default=list)
    proposed_service_lines = models.JSONField(default=list)
    coder_version = models.CharField(max_length=40)
    # denormalised from the encounter (either may be projected first) for filtering
    payer_id = models.CharField(max_length=80, blank=True, default="")
    date_of_service = models.DateField(null=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="")
    resolution_id = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        # one index per sort, each ending in the encounter id (the keyset tie-break) so a page is
        # one index range scan (services.workbench.queue); payer and reason filters have their own
        indexes = [
            models.Index(fields=["status", "routed_at", "encounter_id"], name="review_q_age"),
            models.Index(fields=["status", "payer_id", "routed_at", "encounter_id"], name="review_q_payer"),
            models.Index(fields=["status", "date_of_service", "encounter_id"], name="review_q_dos"),
            models.Index(fields=["status", "confidence", "encounter_id"], name="review_q_conf"),
        ]

    @property
    def token(self) -> str:
        """What the item page posts back: which routing the person saw (stale-page check)."""
        return f"{self.encounter_version}:{int(self.routed_at.timestamp() * 1000)}"


class ReviewItemReason(models.Model):
    """One row per (item, reason code): filtering by any reason stays an index lookup."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="reason_rows")
    code = models.CharField(max_length=40)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "code"], name="review_reason_once")]
        indexes = [models.Index(fields=["code", "item"], name="review_reason_code")]


class Resolution(models.Model):
    """A CodingResolution: written when the web app publishes it and (again, idempotently)
    when the projector reads it back from coding.resolutions.v1."""

    resolution_id = models.CharField(primary_key=True, max_length=40)
    encounter_id = models.CharField(max_length=64, db_index=True)
    encounter_version = models.IntegerField()
    action = models.CharField(max_length=20)
    resolved_by = models.CharField(max_length=150)
    resolved_role = models.CharField(max_length=20)
    resolved_at = models.DateTimeField()
    reason = models.TextField(blank=True, default="")
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)


class ClaimRecord(models.Model):
    """The current picture of a claim (claims.v1, claims.held.v1, claims.status.v1)."""

    claim_id = models.CharField(primary_key=True, max_length=40)
    encounter_id = models.CharField(max_length=64, db_index=True)
    state = models.CharField(max_length=20)
    payer_id = models.CharField(max_length=80, blank=True, default="")
    date_of_service = models.DateField(null=True)
    total_charge = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    document = models.JSONField(default=dict)  # latest Claim as JSON
    updated_at = models.DateTimeField()


class HeldClaimRecord(models.Model):
    claim_id = models.CharField(primary_key=True, max_length=40)
    held_at = models.DateTimeField(db_index=True)
    error_count = models.IntegerField()
    findings = models.JSONField(default=list)
    open = models.BooleanField(default=True, db_index=True)

    @property
    def token(self) -> str:
        """Which holding the person saw (stale-page check)."""
        return str(int(self.held_at.timestamp() * 1000))


class TimelineEvent(models.Model):
    """One entry on a claim's timeline; ``event_key`` is deterministic per business event so
    a redelivery (or a duplicate produce) lands on the same row."""

    event_key = models.CharField(primary_key=True, max_length=120)
    encounter_id = models.CharField(max_length=64, db_index=True)
    claim_id = models.CharField(max_length=40, blank=True, default="", db_index=True)
    kind = models.CharField(max_length=20)  # coded, scrubbed, held, corrected, submitted, ...
    at = models.DateTimeField()
    actor = models.CharField(max_length=150, blank=True, default="")  # rule, learned, a person's login
    detail = models.CharField(max_length=400, blank=True, default="")  # no PHI

    class Meta:
        indexes = [models.Index(fields=["encounter_id", "at"], name="timeline_encounter_at")]


class AccessLog(models.Model):
    """The workbench's copy of every AccessEvent it published (audit.access.v1 is the record)."""

    event_id = models.CharField(primary_key=True, max_length=40)
    at = models.DateTimeField()
    user = models.CharField(max_length=150)
    role = models.CharField(max_length=60)
    record_type = models.CharField(max_length=20)
    record_id = models.CharField(max_length=64)
    action = models.CharField(max_length=10)
    outcome = models.CharField(max_length=10)
    route = models.CharField(max_length=60)

    class Meta:
        indexes = [models.Index(fields=["user", "at"], name="access_user_at"),
                   models.Index(fields=["record_type", "record_id", "at"], name="access_record_at")]


class PasswordState(models.Model):
    """Whether a user must choose a new password before any other page: set by
    ``claimflow users add`` (the password it printed or was given is one-time), cleared when
    the person changes it (services.workbench.first_login)."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, primary_key=True, related_name="password_state")
    must_change = models.BooleanField(default=True)
    changed_at = models.DateTimeField(null=True)
