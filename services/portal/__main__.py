from services.common.entrypoint import run_service
from services.portal.app import PortalApp
from services.portal.settings import PortalSettings

if __name__ == "__main__":
    run_service("portal", PortalSettings, PortalApp)
