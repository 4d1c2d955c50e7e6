"""`python -m services.audit`: runs the audit service until SIGTERM."""

from services.audit.app import AuditApp
from services.audit.settings import AuditSettings
from services.common.entrypoint import run_service

if __name__ == "__main__":
    run_service("audit", AuditSettings, AuditApp)
