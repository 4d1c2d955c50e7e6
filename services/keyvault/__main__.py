"""`python -m services.keyvault`: runs the keyvault service until SIGTERM."""

from services.keyvault.app import KeyVaultApp
from services.keyvault.settings import KeyVaultSettings
from services.common.entrypoint import run_service

if __name__ == "__main__":
    run_service("keyvault", KeyVaultSettings, KeyVaultApp)
