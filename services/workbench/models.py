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
        indexes = [models.Index(fields=["encounter_id", "at"], name="timeline_encounter_at"),
                   models.Index(fields=["kind", "at", "actor"], name="timeline_kind_at")]  # dashboard: coding automation


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


# --- denial worklist (appeals.v1, appeals.underpayments.v1, appeals.actions.v1, appeals.outcomes.v1,
# denials.no-action.v1) -----------------------------------------------------------------------


class WorkStatus(models.TextChoices):
    OPEN = "open", "open"
    FILED = "filed", "appeal filed"  # waiting for the payer's decision
    CLOSED = "closed", "closed"


class WorkItem(models.Model):
    """One denial work item (DenialWorkItem on appeals.v1) or underpayment work item
    (UnderpaymentWorkItem on appeals.underpayments.v1, kind ``underpayment``). The
    adjudicator's fields are rewritten by a redelivery; what people did (assignee, filing,
    closing) comes from appeals.actions.v1 / appeals.outcomes.v1 and is never reverted by it.
    No PHI: ids, codes, amounts, login names."""

    work_item_id = models.CharField(primary_key=True, max_length=40)
    source = models.CharField(max_length=12, default="denial")  # denial | underpayment
    kind = models.CharField(max_length=24)  # WorkItemKind value
    sub_kind = models.CharField(max_length=16, blank=True, default="")  # underpaid | downcoded | overpaid
    claim_id = models.CharField(max_length=40, db_index=True)
    adjudication_id = models.CharField(max_length=64)
    payer_id = models.CharField(max_length=80)
    disposition = models.CharField(max_length=40, blank=True, default="")
    rule_id = models.CharField(max_length=40)
    reason_codes = models.CharField(max_length=200, blank=True, default="")  # space-separated, e.g. "CO-50 CO-16"
    carc_group = models.CharField(max_length=4, blank=True, default="")  # of the primary reason code: CO, PR, OA, PI, CR
    carc_code = models.CharField(max_length=12, blank=True, default="")  # e.g. "50"
    remark_codes = models.CharField(max_length=200, blank=True, default="")
    appeal_level = models.CharField(max_length=40, blank=True, default="")
    level_index = models.IntegerField(default=0)
    deadline = models.DateField(null=True)
    remittance_date = models.DateField()
    denied_amount = models.DecimalField(max_digits=12, decimal_places=2)
    recoverable_amount = models.DecimalField(max_digits=12, decimal_places=2)
    overturn_likelihood = models.FloatField()
    priority_score = models.FloatField()
    reason_family = models.CharField(max_length=40, blank=True, default="")
    explanation = models.TextField(blank=True, default="")
    document = models.JSONField(default=dict)  # the work item as JSON (evidence, line numbers, ...)
    created_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=WorkStatus.choices, default=WorkStatus.OPEN)
    assignee = models.CharField(max_length=150, blank=True, default="")
    filed_on = models.DateField(null=True)
    filing_method = models.CharField(max_length=16, blank=True, default="")
    filed_late = models.BooleanField(default=False)
    late_reason = models.TextField(blank=True, default="")
    packet_sha256 = models.CharField(max_length=64, blank=True, default="")
    closed_how = models.CharField(max_length=24, blank=True, default="")  # overturned, upheld, written_off, ...
    closed_at = models.DateTimeField(null=True)
    recovered_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    next_item_id = models.CharField(max_length=40, blank=True, default="")  # the next level after an upheld appeal

    class Meta:
        indexes = [
            models.Index(fields=["status", "priority_score"], name="work_status_priority"),
            models.Index(fields=["status", "deadline"], name="work_status_deadline"),
            models.Index(fields=["status", "kind", "priority_score"], name="work_status_kind"),
            models.Index(fields=["status", "payer_id", "priority_score"], name="work_status_payer"),
            models.Index(fields=["status", "carc_group", "carc_code"], name="work_status_carc"),
            models.Index(fields=["status", "assignee", "priority_score"], name="work_status_assignee"),
            models.Index(fields=["payer_id", "carc_code", "closed_how"], name="work_payer_carc_outcome"),
            models.Index(fields=["claim_id", "adjudication_id", "level_index"], name="work_claim_level"),
            # dashboard: denials per period, worklist age
            models.Index(fields=["source", "level_index", "remittance_date"], name="work_denials_remit"),
            models.Index(fields=["status", "created_at"], name="work_status_created"),
        ]

    @property
    def primary_carc(self) -> str:
        return f"{self.carc_group}-{self.carc_code}" if self.carc_group else self.carc_code

    @property
    def token(self) -> str:
        """Which state of the item the person saw: a form posted from an older state is stale."""
        return f"{self.status}:{self.level_index}:{self.closed_how or '-'}"


class WorkAction(models.Model):
    """An AppealAction: written when the web app publishes it and (again, idempotently) when the
    projector reads it back from appeals.actions.v1 (also the CLI's actions)."""

    action_id = models.CharField(primary_key=True, max_length=40)
    work_item_id = models.CharField(max_length=40, db_index=True)
    claim_id = models.CharField(max_length=40)
    action = models.CharField(max_length=24)
    actor = models.CharField(max_length=150)
    actor_role = models.CharField(max_length=60)
    occurred_at = models.DateTimeField()
    document = models.JSONField(default=dict)


class AppealOutcomeRecord(models.Model):
    """A payer's decision (appeals.outcomes.v1), from the payer simulator or entered by hand.
    ``counted`` = it taught the overturn model (an outcome of a filed appeal, not withdrawn)."""

    outcome_id = models.CharField(primary_key=True, max_length=40)
    work_item_id = models.CharField(max_length=40, db_index=True)
    claim_id = models.CharField(max_length=40)
    payer_id = models.CharField(max_length=80)
    reason_code = models.CharField(max_length=12)
    appeal_level = models.CharField(max_length=40)
    outcome = models.CharField(max_length=24)
    recovered_amount = models.DecimalField(max_digits=12, decimal_places=2)
    decided_on = models.DateField()
    received_at = models.DateTimeField()
    counted = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["payer_id", "reason_code", "counted"], name="outcome_payer_carc")]


class NoActionRecord(models.Model):
    """An adjustment that needs no person, with its why (denials.no-action.v1)."""

    record_id = models.CharField(primary_key=True, max_length=40)
    claim_id = models.CharField(max_length=40, db_index=True)
    adjudication_id = models.CharField(max_length=64)
    payer_id = models.CharField(max_length=80)
    disposition = models.CharField(max_length=40)
    rule_id = models.CharField(max_length=40)
    reason_codes = models.CharField(max_length=200, blank=True, default="")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reason_family = models.CharField(max_length=40, blank=True, default="")
    why = models.TextField()
    decided_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["disposition", "payer_id"], name="noaction_disp_payer")]


class AppealPacketFile(models.Model):
    """A generated appeal letter (PDF bytes), stored so it can be downloaded again; its sha256
    goes on the ``filed`` action. May contain PHI: served only through an audited route."""

    sha256 = models.CharField(primary_key=True, max_length=64)
    work_item_id = models.CharField(max_length=40, db_index=True)
    claim_id = models.CharField(max_length=40)
    template = models.CharField(max_length=40)
    argument = models.TextField()
    pdf = models.BinaryField()
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField()


class RemittanceRecord(models.Model):
    """A payer's remittance for a claim (adjudications.v1, 835 semantics): the item page shows
    its lines with the CARC/RARC descriptions. Codes and amounts; no patient fields."""

    adjudication_id = models.CharField(primary_key=True, max_length=64)
    claim_id = models.CharField(max_length=40, db_index=True)
    payer_id = models.CharField(max_length=80)
    claim_status_code = models.CharField(max_length=4)
    paid_amount = models.DecimalField(max_digits=12, decimal_places=2)
    remittance_date = models.DateField()
    document = models.JSONField(default=dict)
    received_at = models.DateTimeField()

class PasswordState(models.Model):
    """Whether a user must choose a new password before any other page: set by
    ``claimflow users add`` (the password it printed or was given is one-time), cleared when
    the person changes it (services.workbench.first_login)."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, primary_key=True, related_name="password_state")
    must_change = models.BooleanField(default=True)
    changed_at = models.DateTimeField(null=True)
