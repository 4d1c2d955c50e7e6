"""`python -m services.consent`: runs the consent service until SIGTERM."""

from services.consent.app import ConsentApp
from services.consent.settings import ConsentSettings
from services.common.entrypoint import run_service

if __name__ == "__main__":
    run_service("consent", ConsentSettings, ConsentApp)
