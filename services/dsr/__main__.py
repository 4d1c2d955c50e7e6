"""`python -m services.dsr`: runs the dsr service until SIGTERM."""

from services.dsr.app import DsrApp
from services.dsr.settings import DsrSettings
from services.common.entrypoint import run_service

if __name__ == "__main__":
    run_service("dsr", DsrSettings, DsrApp)
