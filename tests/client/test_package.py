"""The client package's public names: each is the object its module defines, loaded when first asked
for, so a program using only the gate does not load the Kafka client."""

import importlib
import subprocess
import sys
import types

import pytest

import consentry_client

MODULES = ("cipher", "edge", "errors", "gate", "journal", "kafka", "pages", "processor")


def test_every_public_name_is_the_object_its_module_defines():
    for module in MODULES:  # loading a module binds its name on the package: `pages` must stay the function
        importlib.import_module(f"consentry_client.{module}")
    for name in consentry_client.__all__:
        found = getattr(consentry_client, name)
        assert not isinstance(found, types.ModuleType), name
        assert any(getattr(sys.modules[f"consentry_client.{m}"], name, None) is found for m in MODULES), name


def test_a_name_it_does_not_have_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'ConsentGat'"):
        consentry_client.ConsentGat  # noqa: B018


def test_the_gate_alone_does_not_load_the_kafka_client():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys; from consentry_client import ConsentGate, connect;"
                               " print('aiokafka' in sys.modules, 'consentry_client.processor' in sys.modules)"],
        capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["False", "False"]
