"""OpenBao's Helm values (deploy/k8s/openbao/values.yaml) against the chart they are for (0.29.2, kept in
`../shared/k8s-crds/`): valid for its values schema, every key one the chart has (a misspelt key would be
ignored without a word), and a raft cluster of three that joins by TLS and unseals itself."""

import json

import jsonschema
import yaml

from tests.k8s.crds import CRDS, needs_crds
from tests.k8s.test_manifests import DEPLOY

CHART = CRDS / "openbao-helm-0.29.2"
OURS = DEPLOY / "openbao" / "values.yaml"


def unknown_keys(ours, chart, path: str = "") -> list[str]:
    """Keys of `ours` the chart's defaults do not have; free-form maps (empty by default) take any."""
    if not isinstance(ours, dict) or not isinstance(chart, dict) or not chart:
        return []
    return [f"{path}{key}" for key in ours if key not in chart] + [
        found for key in ours if key in chart for found in unknown_keys(ours[key], chart[key], f"{path}{key}.")]


@needs_crds()
def test_the_values_are_the_charts_and_valid_for_its_schema():
    values = yaml.safe_load(OURS.read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(values)] == []
    assert unknown_keys(values, defaults) == []
    assert unknown_keys({"server": {"ha": {"replica": 3}}}, defaults) == ["server.ha.replica"]  # a misspelling


def test_three_servers_join_one_raft_cluster_over_tls_and_unseal_by_transit():
    server = yaml.safe_load(OURS.read_text())["server"]
    config = server["ha"]["raft"]["config"]

    assert server["ha"]["enabled"] and server["ha"]["replicas"] == 3 and server["ha"]["raft"]["enabled"]
    assert not server["standalone"]["enabled"]
    assert config.count("retry_join") == 3 and "tls_disable" not in config
    assert 'seal "transit"' in config
