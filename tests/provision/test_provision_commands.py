"""`consentry provision`, run as an operator runs it against servers that exist (the session's
PostgreSQL, OpenBao and broker): each subcommand sets up what a service needs, hands back the
service's settings, and run again changes nothing; bad input is one clear line."""

import json
import os
import subprocess
import sys
import uuid

import asyncpg
import hvac
import pytest

from services.common.erasure import ErasureKeySettings, load_tagger
from services.common.vault_admin import issue_token

CONSENTRY = [sys.executable, "-m", "services.cli.main", "provision"]


def name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def provision(*args: str, **env: str) -> subprocess.CompletedProcess:
    """The command with only the given CONSENTRY_PROVISION_* settings (none of the caller's shell)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_PROVISION_")}
    return subprocess.run([*CONSENTRY, *args], capture_output=True, text=True, timeout=60,
                          env={**clean, **{f"CONSENTRY_PROVISION_{k}": v for k, v in env.items()}})


def twice(*args: str, **env: str) -> tuple[dict, dict]:
    first, again = provision(*args, **env), provision(*args, **env)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    return json.loads(first.stdout), json.loads(again.stdout)


async def whoami(dsn: str) -> tuple[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT current_user"), await conn.fetchval("SELECT current_database()")
    finally:
        await conn.close()


async def test_a_service_database_is_made_once_and_a_new_password_only_on_request(postgres):
    database = name("prov")
    admin = {"DATABASE_URL": postgres.dsn()}

    first, again = twice("database", "consent", "--database", database, **admin)
    renewed = json.loads(provision("database", "consent", "--database", database, "--new-password", **admin).stdout)

    url = first["settings"]["CONSENTRY_CONSENT_DATABASE_URL"]
    assert first["changed"] == [f"role {database}", f"database {database}"]
    assert again == {"changed": [], "settings": {},
                     "notes": [f"roles {database} kept their passwords (--new-password sets new ones)"]}
    assert renewed["changed"] == [f"password of role {database}"]
    assert await whoami(renewed["settings"]["CONSENTRY_CONSENT_DATABASE_URL"]) == (database, database)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await whoami(url)  # the password the first run made is no longer the role's


async def test_audit_gets_an_owner_and_an_insert_only_role_once(postgres):
    database, owner, service = name("prov_audit"), name("owner"), name("writer")
    args = ("database", "audit", "--database", database, "--role", service, "--owner-role", owner)

    first, again = twice(*args, DATABASE_URL=postgres.dsn())

    assert set(first["changed"]) >= {f"role {owner}", f"role {service}", f"database {database}"}
    assert again["changed"] == [] and again["settings"] == {}
    urls = first["settings"]
    assert await whoami(urls["CONSENTRY_AUDIT_OWNER_DATABASE_URL"]) == (owner, database)
    assert await whoami(urls["CONSENTRY_AUDIT_DATABASE_URL"]) == (service, database)
    # The service's role writes through the group the migrations grant INSERT and SELECT to, nothing more.
    assert postgres.execute("SELECT pg_has_role($1, 'consentry_audit_writer', 'MEMBER')", service)
    assert postgres.execute("SELECT datdba::regrole::text FROM pg_database WHERE datname = $1", database) == owner


def test_vault_keys_and_policies_are_made_once_and_tokens_issued_on_request(vault):
    mount, kek, checkpoint, kv = name("transit"), name("kek"), name("checkpoints"), name("kv")
    policies = [name("policy") for _ in range(3)]
    admin = {"VAULT_ADDRESS": vault.address, "VAULT_TOKEN": vault.root_token}

    kek_first, kek_again = twice("kek", "--transit-mount", mount, "--kek-name", kek, "--policy", policies[0],
                                 "--token", **admin)
    signer_first, signer_again = twice("checkpoint-key", "--transit-mount", mount, "--key-name", checkpoint,
                                       "--policy", policies[1], "--token", **admin)
    erasure_first, erasure_again = twice("erasure-key", "dsr", "--kv-mount", kv, "--policy", policies[2], "--token",
                                         **admin)
    untokened = json.loads(provision("erasure-key", "dsr", "--kv-mount", kv, "--policy", policies[2], **admin).stdout)

    assert kek_first["changed"] == [f"secrets engine {mount}/", f"transit key {mount}/{kek}", f"policy {policies[0]}"]
    assert signer_first["changed"] == [f"transit key {mount}/{checkpoint}", f"policy {policies[1]}"]
    assert erasure_first["changed"] == [f"secrets engine {kv}/", f"erasure key {kv}/consentry/erasure-key",
                                        f"policy {policies[2]}"]
    assert [kek_again["changed"], signer_again["changed"], erasure_again["changed"], untokened["changed"]] == [[]] * 4
    assert "CONSENTRY_DSR_ERASURE_KEY__VAULT_TOKEN" not in untokened["settings"] and untokened["notes"]

    # Each run's token may use its key, and the second run's finds the first run's key, not a new one.
    tokens = [run["settings"]["CONSENTRY_KEYVAULT_VAULT_TOKEN"] for run in (kek_first, kek_again)]
    transit = [hvac.Client(url=vault.address, token=t).secrets.transit for t in tokens]
    sealed = transit[0].encrypt_data(kek, "c2VjcmV0", mount_point=mount)["data"]["ciphertext"]
    assert transit[1].decrypt_data(kek, sealed, mount_point=mount)["data"]["plaintext"] == "c2VjcmV0"
    with pytest.raises(hvac.exceptions.Forbidden):
        transit[1].encrypt_data(checkpoint, "c2VjcmV0", mount_point=mount)
    signer = hvac.Client(url=vault.address, token=signer_again["settings"]["CONSENTRY_AUDIT_VAULT_TOKEN"])
    assert signer.secrets.transit.sign_data(checkpoint, "bm90ZQ==", mount_point=mount)["data"]["signature"]
    tags = {load_tagger(ErasureKeySettings(vault_address=vault.address, kv_mount=kv,
                                           vault_token=run["settings"]["CONSENTRY_DSR_ERASURE_KEY__VAULT_TOKEN"]))
            .tag("someone") for run in (erasure_first, erasure_again)}
    assert len(tags) == 1


def test_a_controllers_kek_comes_with_its_own_policy_and_joins_the_services(vault):
    # An upper-case policy name, which Vault keeps (and lists) in lower case.
    mount, kek, policy = name("transit"), name("kek"), name("Policy")
    admin = {"VAULT_ADDRESS": vault.address, "VAULT_TOKEN": vault.root_token}
    common = ("--transit-mount", mount, "--kek-name", kek, "--policy", policy)
    service = json.loads(provision("kek", *common, "--token", **admin).stdout)
    token = service["settings"]["CONSENTRY_KEYVAULT_VAULT_TOKEN"]
    transit = hvac.Client(url=vault.address, token=token).secrets.transit
    with pytest.raises(hvac.exceptions.Forbidden):  # no controller's KEK yet
        transit.encrypt_data(f"{kek}-river-bank", "c2VjcmV0", mount_point=mount)

    first, again = twice("kek", *common, "--controller", "River-Bank", **admin)

    other = json.loads(provision("kek", *common, "--controller", "acme", **admin).stdout)
    later = json.loads(provision("kek", *common, **admin).stdout)  # a run for the default KEK keeps them all

    # Its own KEK and policy (the id made a Vault name), and the service's policy takes it in.
    policy = policy.lower()
    own_kek, own_policy = f"{kek}-_52iver-_42ank", f"{policy}-controller-_52iver-_42ank"
    assert first["changed"] == [f"transit key {mount}/{own_kek}", f"policy {own_policy}", f"policy {policy}"]
    assert other["changed"] == [f"transit key {mount}/{kek}-acme", f"policy {policy}-controller-acme",
                                f"policy {policy}"] and later["changed"] == []
    for controller_kek in (own_kek, f"{kek}-acme", kek):  # both controllers' and the default, by the same token
        transit.encrypt_data(controller_kek, "c2VjcmV0", mount_point=mount)
    assert again["changed"] == [] and own_policy in first["notes"][0]
    sealed = transit.encrypt_data(own_kek, "c2VjcmV0", mount_point=mount)["data"]["ciphertext"]  # the same token
    assert transit.decrypt_data(own_kek, sealed, mount_point=mount)["data"]["plaintext"] == "c2VjcmV0"
    alone = hvac.Client(url=vault.address, token=issue_token(vault.client(), own_policy)).secrets.transit
    assert alone.decrypt_data(own_kek, sealed, mount_point=mount)["data"]["plaintext"] == "c2VjcmV0"
    with pytest.raises(hvac.exceptions.Forbidden):
        alone.encrypt_data(kek, "c2VjcmV0", mount_point=mount)


async def test_the_platform_topics_are_made_once(kafka, dev_ca):
    topics = [name("prov.events") for _ in range(2)]
    client = dev_ca.issue_client("provisioner")
    broker = {"KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "KAFKA__TLS_CA": str(dev_ca.ca.cert),
              "KAFKA__TLS_CERT": str(client.cert), "KAFKA__TLS_KEY": str(client.key)}

    first, again = twice("topics", *topics, "--partitions", "2", **broker)

    assert first["changed"] == [f"topic {t}" for t in topics] and again["changed"] == []
    assert set(topics) <= set(kafka.list_topics())


def test_bad_input_is_one_clear_line(postgres, vault):
    wrong_password = postgres.dsn().replace(f":{postgres.password}@", ":wrong@")
    answers = {
        "no admin DSN": provision("database", "dsr"),
        "not a DSN": provision("database", "dsr", DATABASE_URL="mysql://db/x"),
        "wrong password": provision("database", "dsr", DATABASE_URL=wrong_password),
        "owner role for consent": provision("database", "consent", "--owner-role", "x", DATABASE_URL=postgres.dsn()),
        "a controller's KEK without KEKs": provision("kek", "--backend", "transit-per-subject", "--controller", "acme",
                                                     VAULT_ADDRESS=vault.address, VAULT_TOKEN=vault.root_token),
        "no Vault token": provision("kek"),
        "refused token": provision("kek", VAULT_ADDRESS=vault.address, VAULT_TOKEN="not-a-token"),
        "nothing of Kafka": provision("topics"),
        "no Kafka credential": provision("topics", KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:9"),
    }
    usage = {
        "unknown service": provision("database", "billing"),
        "a name that would break the policy": provision("kek", "--kek-name", 'k" } path "*'),
        "a controller that is no identifier": provision("kek", "--controller", "acme campus"),
        "no partitions": provision("topics", "--partitions", "0"),
    }

    lines = {what: done.stderr.splitlines() for what, done in answers.items()}
    assert all(done.returncode == 1 and done.stdout == "" for done in answers.values()), lines
    assert all(len(said) == 1 and said[0].startswith("consentry: ") for said in lines.values()), lines
    assert "password authentication failed" in lines["wrong password"][0]
    assert lines["refused token"][0].startswith(f"consentry: Vault at {vault.address}: Forbidden")
    assert all(done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.splitlines()[-1].startswith(
        "consentry provision") for done in usage.values()), {w: d.stderr for w, d in usage.items()}
