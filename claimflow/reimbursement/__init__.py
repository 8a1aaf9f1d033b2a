"""Expected reimbursement: the Medicare Physician Fee Schedule (PFS) reference data, pure
pricing rules, and payer contracts built on them. Nothing here imports Faust or Kafka."""
