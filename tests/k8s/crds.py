"""Custom resources checked against the JSON schema of their CRD, read from the CRDs kept beside the
project (`../shared/k8s-crds/`, or CONSENTRY_K8S_CRDS): Strimzi, CloudNativePG, cert-manager. Strict
where the API server is lenient: a field the schema does not name is an error here, where the server
would drop it without a word (a misspelt setting would silently not apply)."""

import os
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import yaml

CRDS = Path(os.environ.get("CONSENTRY_K8S_CRDS", Path(__file__).resolve().parents[2].parent / "shared" / "k8s-crds"))


def needs_crds():
    return pytest.mark.skipif(not CRDS.is_dir(), reason=f"the CRD schemas are not at {CRDS}"
                              " (set CONSENTRY_K8S_CRDS to where they are)")


@cache
def _schemas() -> dict[tuple[str, str], dict]:
    """Every served version of every CRD there: (apiVersion, kind) -> its openAPIV3Schema, made strict."""
    found = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = document["spec"]["group"], document["spec"]["names"]["kind"]
            for version in document["spec"]["versions"]:
                if version.get("served", True):
                    found[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return found


def _strict(schema):
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: _strict(v) for k, v in schema.items()}
    if schema.pop("x-kubernetes-int-or-string", False):
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        schema["additionalProperties"] = False
    return schema


def problems(resource: dict) -> list[str]:
    """What the resource's CRD schema finds wrong with it; a kind no CRD there defines is one problem."""
    schema = _schemas().get((resource.get("apiVersion", ""), resource.get("kind", "")))
    if schema is None:
        return [f"no served CRD defines {resource.get('apiVersion')} {resource.get('kind')}"]
    # The object's envelope is the API server's to check; the schema judges the rest.
    envelope = ("apiVersion", "kind", "metadata")
    body = {k: v for k, v in resource.items() if k not in envelope}
    checked = {**schema, "properties": {k: v for k, v in schema.get("properties", {}).items() if k not in envelope},
               "required": [k for k in schema.get("required", []) if k not in envelope]}
    validator = jsonschema.Draft7Validator(checked)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(body)]
