"""The workbench's roles and who may do what (one place; a later queue adds its own line).
Plain constants, importable without Django."""

CODER, BILLER, SUPERVISOR, ADMIN = "coder", "biller", "supervisor", "admin"
ROLES = (CODER, BILLER, SUPERVISOR, ADMIN)

CODING_REVIEW_READ = (CODER, SUPERVISOR, ADMIN)
CODING_REVIEW_WRITE = (CODER, SUPERVISOR)
HELD_CLAIMS = (CODER, BILLER, SUPERVISOR)
CLAIM_TIMELINE = (CODER, BILLER, SUPERVISOR, ADMIN)
ACCESS_AUDIT = (ADMIN,)
DASHBOARD = (CODER, BILLER, SUPERVISOR, ADMIN)  # a coder sees the coding-automation chart only (dashboard.registry)
DENIALS = (BILLER, SUPERVISOR)  # the denial worklist: billers and supervisors work it; a coder gets 403
