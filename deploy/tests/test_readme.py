"""The chart's README documents every value, and nothing that is not one."""

from __future__ import annotations

import json
import re

import yaml

from conftest import CHART_DIR

# Maps whose content is free-form Kubernetes (or server) settings: the README
# documents the map as a whole.
WHOLE_MAPS = {"config", "podSecurityContext", "securityContext", "resources", "migration.job.podAnnotations"}
# Documented keys that have no default in values.yaml.
DOCUMENTED_WITHOUT_DEFAULT = {
    "bootstrap.clients.<name>.envVarName",
    "bootstrap.clients.<name>.secretName",
    "bootstrap.clients.<name>.existingSecret",
    "podDisruptionBudget.minAvailable",
}


def value_paths(node, prefix=""):
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else key
        if path in WHOLE_MAPS or not isinstance(value, dict) or not value:
            yield path
        else:
            yield from value_paths(value, path)


def documented_keys():
    text = (CHART_DIR / "README.md").read_text()
    section = text.split("## Values", 1)[1]
    return [m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", section, re.MULTILINE)]


def test_every_value_is_documented_once():
    values = set(value_paths(yaml.safe_load((CHART_DIR / "values.yaml").read_text())))
    keys = documented_keys()
    assert len(keys) == len(set(keys)), "a key is documented twice"
    assert sorted(values - set(keys)) == []
    assert sorted(set(keys) - values - DOCUMENTED_WITHOUT_DEFAULT) == []


def test_every_documented_value_is_in_the_schema():
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    for key in documented_keys():
        node = schema
        for part in key.split("."):
            if "$ref" in node:
                node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
            props = node.get("properties", {})
            if part in props:
                node = props[part]
            elif part == "<name>":
                node = schema["$defs"]["managedClient"]
            else:
                raise AssertionError(f"{key}: {part} is not in values.schema.json")
