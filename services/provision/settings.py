"""Where `consentry provision` finds the servers and its administrative credentials: environment
variables prefixed CONSENTRY_PROVISION_ (nested with "__"), never the command line, which every
local user can read."""

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import KafkaSettings


class ProvisionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_PROVISION_", env_nested_delimiter="__")

    # A role that may create roles and databases (CREATEROLE, CREATEDB), e.g. the superuser.
    database_url: SecretStr = SecretStr("")
    vault_address: str = "http://127.0.0.1:8200"
    vault_ca_file: Path | None = None  # the CA of Vault's certificate (unset: the HTTP client's bundle)
    # A token that may mount secrets engines, write keys and policies, and create tokens.
    vault_token: SecretStr = SecretStr("")
    # A client the broker lets create topics.
    kafka: KafkaSettings | None = None
