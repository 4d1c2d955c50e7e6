"""`consentry provision ...`: set up, once and with administrative rights, what the services need on
servers that exist: databases and roles, Vault keys and policies, Kafka topics. Each subcommand can
run again and changes nothing then. Credentials come from the environment (CONSENTRY_PROVISION_*,
see services/provision/settings.py); the answer is JSON: what changed, and the settings of the
service it made (secrets among them only when this run made them: keep the output where you keep
secrets)."""

import argparse
import logging
import re
from collections.abc import Callable

from pydantic import ValidationError

from services.audit import provision as audit
from services.audit.settings import AuditSettings
from services.cli.output import show
from services.cli.client import CliError
from services.common.erasure import READER_POLICY, ErasureKeySettings
from services.common.validation import IDENTIFIER as IDENTIFIER_PATTERN
from services.keyvault.provision import POLICY_NAMES
from services.keyvault.settings import KeyVaultSettings
from services.provision import ProvisionError, Provisioned
from services.provision.kafka_users import SERVICE_USERS, kafka_resources
from services.provision.databases import SERVICES, provision_service_database
from services.provision.settings import ProvisionSettings
from services.provision.topics import PLATFORM_TOPICS, provision_topics
from services.provision.vault import (
    ERASURE_KEY_READERS, admin_client, provision_checkpoint_key, provision_erasure_key, provision_kek,
    provision_kubernetes_auth,
)

_ERASURE, _KEYVAULT, _AUDIT = ErasureKeySettings.model_fields, KeyVaultSettings.model_fields, AuditSettings.model_fields


def _name(pattern: str, what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}")
        return value
    return check


SQL_NAME = _name(r"[A-Za-z_][A-Za-z0-9_]{0,62}", "a PostgreSQL name (letters, digits, _; at most 63)")
VAULT_NAME = _name(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", "a Vault name (letters, digits, _ . -)")
VAULT_PATH = _name(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,127})*",
                   "a Vault path (names joined by /)")
IDENTIFIER = _name(IDENTIFIER_PATTERN.pattern, "an identifier (1-128 letters, digits and ._:@-)")
K8S_NAME = _name(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a Kubernetes name (lower-case letters, digits, -)")
# Token reviews carry the services' tokens: never in plain text.
HTTPS_URL = _name(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?", "an https address (https://host[:port])")
TOPIC = _name(r"[A-Za-z0-9._-]{1,249}", "a Kafka topic name (letters, digits, . _ -)")


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def add_actions(provision: argparse.ArgumentParser) -> None:
    """The subcommands of `consentry provision` (main.py makes that parser)."""
    actions = provision.add_subparsers(dest="action", required=True)

    database = actions.add_parser("database", help="a service's database and roles (CONSENTRY_PROVISION_DATABASE_URL)")
    database.add_argument("service", choices=SERVICES)
    database.add_argument("--database", type=SQL_NAME, help="the database's name (default: the service's)")
    database.add_argument("--role", type=SQL_NAME,
                          help="the service's role (default: the database's name; audit: consentry_audit)")
    database.add_argument("--owner-role", type=SQL_NAME, help="audit only: the schema owner (consentry_audit_owner)")
    database.add_argument("--new-password", action="store_true", help="set new passwords for roles that exist")
    database.set_defaults(run=run, step=_database)

    vault = "(CONSENTRY_PROVISION_VAULT_ADDRESS, _VAULT_TOKEN)"
    erasure = actions.add_parser("erasure-key", help=f"the erasure key a service reads {vault}")
    erasure.add_argument("service", choices=ERASURE_KEY_READERS)
    erasure.add_argument("--kv-mount", type=VAULT_NAME, default=_ERASURE["kv_mount"].default)
    erasure.add_argument("--path", type=VAULT_PATH, default=_ERASURE["path"].default)
    erasure.add_argument("--policy", type=VAULT_NAME, default=READER_POLICY)
    erasure.set_defaults(step=_erasure_key)

    kek = actions.add_parser("kek", help=f"keyvault's key-encryption key and policy {vault}")
    kek.add_argument("--backend", choices=tuple(POLICY_NAMES), default=_KEYVAULT["backend"].default)
    kek.add_argument("--transit-mount", type=VAULT_NAME, default=_KEYVAULT["transit_mount"].default)
    kek.add_argument("--kek-name", type=VAULT_NAME, default=_KEYVAULT["kek_name"].default)
    kek.add_argument("--policy", type=VAULT_NAME, help="default: consentry-keyvault (per subject: ...-per-subject)")
    kek.add_argument("--controller", type=IDENTIFIER, metavar="CONTROLLER_ID",
                     help="the KEK of this controller's subject keys, and its policy (wrapped backend); without"
                          " it: the default controller's KEK, which keys from before controllers are wrapped under")
    kek.set_defaults(step=_kek)

    checkpoint = actions.add_parser("checkpoint-key", help=f"audit's checkpoint signing key and policy {vault}")
    checkpoint.add_argument("--transit-mount", type=VAULT_NAME, default=_AUDIT["transit_mount"].default)
    checkpoint.add_argument("--key-name", type=VAULT_NAME, default=_AUDIT["checkpoint_key_name"].default)
    checkpoint.add_argument("--policy", type=VAULT_NAME, default=audit.POLICY)
    checkpoint.set_defaults(step=_checkpoint_key)
    k8s = actions.add_parser("kubernetes-auth", help="Vault's Kubernetes auth method and a role per service, bound"
                             f" to its ServiceAccount and policy {vault}")
    k8s.add_argument("--namespace", type=K8S_NAME, required=True, help="where the services run")
    k8s.add_argument("--kubernetes-host", type=HTTPS_URL, required=True,
                     help="the Kubernetes API as Vault reaches it (in the cluster: https://kubernetes.default.svc)")
    k8s.add_argument("--kubernetes-ca-file", type=argparse.FileType("r"), help="its CA certificate (PEM)")
    k8s.add_argument("--outside-cluster", action="store_true",
                     help="Vault runs outside the cluster: each login's token reviews itself (the services' accounts"
                          " need the system:auth-delegator role)")
    k8s.add_argument("--mount", type=VAULT_NAME, default=_KEYVAULT["vault_kubernetes_mount"].default)
    k8s.add_argument("--backend", choices=tuple(POLICY_NAMES), default=_KEYVAULT["backend"].default,
                     help="keyvault's backend, whose policy its role gets")
    k8s.set_defaults(run=run, step=_kubernetes_auth)
    for p in (erasure, kek, checkpoint):
        p.add_argument("--token", action="store_true", help="also issue the service a token with the policy")
        p.set_defaults(run=run)

    topics = actions.add_parser("topics", help="the platform's Kafka topics (CONSENTRY_PROVISION_KAFKA__*)")
    topics.add_argument("topics", nargs="*", type=TOPIC, metavar="TOPIC",
                        help=f"default: {' '.join(PLATFORM_TOPICS)}")
    topics.add_argument("--partitions", type=_count, default=3)
    topics.add_argument("--replication-factor", type=_count, default=1)
    topics.set_defaults(run=run, step=_topics)

    user = actions.add_parser("kafka-user", help="a service's or a processor's Strimzi KafkaUser with the ACLs of"
                              " the platform's table (a processor's: and its two KafkaTopics), printed for"
                              " `kubectl apply -f -`")
    user.add_argument("name", metavar="NAME", help=f"a service ({', '.join(SERVICE_USERS)}) or a processor's name")
    user.add_argument("--cluster", type=K8S_NAME, default="consentry", help="the Strimzi Kafka cluster (default"
                      " consentry)")
    user.add_argument("--namespace", type=K8S_NAME, help="default: kubectl's")
    user.set_defaults(run=print_kafka_user)


async def run(args: argparse.Namespace) -> int:
    try:
        settings = ProvisionSettings()
    except ValidationError as error:
        raise CliError("; ".join(f"CONSENTRY_PROVISION_{'__'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                                 for e in error.errors())) from None
    try:
        done = await args.step(args, settings)
    except ProvisionError as error:
        raise CliError(str(error)) from None
    # JSON always: the settings may hold a password shown this once, to be kept as printed.
    show({"changed": done.changed, "settings": done.settings, "notes": done.notes}, True)
    return 0


async def print_kafka_user(args: argparse.Namespace) -> int:
    """Nothing is changed here: the manifest is printed, and `kubectl apply` makes or keeps the user."""
    try:
        resources = kafka_resources(args.name, cluster=args.cluster, namespace=args.namespace or "")
    except ValueError as error:
        raise CliError(str(error)) from None
    show({"apiVersion": "v1", "kind": "List", "items": resources}, True)
    return 0


async def _database(args: argparse.Namespace, settings: ProvisionSettings) -> Provisioned:
    return await provision_service_database(settings.database_url.get_secret_value(), args.service, args.database,
                                            args.role, args.owner_role, args.new_password)


def _vault(settings: ProvisionSettings):
    return admin_client(settings.vault_address, settings.vault_token.get_secret_value(), settings.vault_ca_file)


async def _erasure_key(args: argparse.Namespace, settings: ProvisionSettings) -> Provisioned:
    return provision_erasure_key(_vault(settings), args.service, args.kv_mount, args.path, args.policy, args.token)


async def _kek(args: argparse.Namespace, settings: ProvisionSettings) -> Provisioned:
    return provision_kek(_vault(settings), args.backend, args.transit_mount, args.kek_name,
                         args.policy or POLICY_NAMES[args.backend], args.token, args.controller)


async def _checkpoint_key(args: argparse.Namespace, settings: ProvisionSettings) -> Provisioned:
    return provision_checkpoint_key(_vault(settings), args.transit_mount, args.key_name, args.policy, args.token)


async def _kubernetes_auth(args: argparse.Namespace, settings: ProvisionSettings) -> Provisioned:
    ca = args.kubernetes_ca_file.read() if args.kubernetes_ca_file else ""
    if ca and "-----BEGIN CERTIFICATE-----" not in ca:
        raise ProvisionError(f"{args.kubernetes_ca_file.name} holds no PEM certificate")
    return provision_kubernetes_auth(_vault(settings), args.namespace, args.kubernetes_host.rstrip("/"), ca, args.mount,
                                     args.backend, not args.outside_cluster)


async def _topics(args: argparse.Namespace, settings: ProvisionSettings) -> Provisioned:
    # The client logs each failed connection attempt; the one line below says it.
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    if settings.kafka is None:
        raise ProvisionError("CONSENTRY_PROVISION_KAFKA__BOOTSTRAP_SERVERS and a credential the broker accepts"
                             " (…KAFKA__TLS_CERT and …KAFKA__TLS_KEY, or SASL) are not set")
    return await provision_topics(settings.kafka, tuple(args.topics) or PLATFORM_TOPICS, args.partitions,
                                  args.replication_factor)
