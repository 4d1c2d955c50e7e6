"""A Vault/OpenBao token for a service: given directly (dev, tests) or obtained with the pod's
Kubernetes service-account token (production)."""

import hvac


def vault_token(address: str, method: str, token: str, role: str, jwt_file) -> str:
    if method == "token":
        return token
    login = hvac.Client(url=address).auth.kubernetes.login(role=role, jwt=jwt_file.read_text())
    return login["auth"]["client_token"]
