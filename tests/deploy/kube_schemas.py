"""Offline Kubernetes schemas for the chart's rendered manifests, from the kubernetes-validate package.

kubernetes-validate validates in Python. kubeconform needs "standalone" schemas (no references to
other files), so the same schemas are also written out with their definitions inlined.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate

KUBERNETES_VERSION = "1.37.0"
SCHEMAS = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
LOCAL_STRICT = SCHEMAS / f"v{KUBERNETES_VERSION}-local-strict"

# The Prometheus operator's kinds: no schema is shipped, so these are checked by hand.
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def validate(document: dict[str, Any]) -> None:
    """Raises kubernetes_validate.ValidationError for a document the API server would refuse."""
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def schema_file_name(document: dict[str, Any]) -> str:
    """deployment-apps-v1.json, configmap-v1.json, ingress-networking-v1.json: the layout of both."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", document["apiVersion"])
    return f"{document['kind'].lower()}-{group_version}.json"


def write_standalone(documents: list[dict[str, Any]], into: Path) -> str:
    """Writes the schemas the documents need with their definitions inlined; returns kubeconform's
    -schema-location template for them."""
    definitions_text = (LOCAL_STRICT / "_definitions.json").read_text()
    inline = _inline_references(definitions_text)
    definitions = json.loads(inline)["$defs"]
    target = into / f"v{KUBERNETES_VERSION}-standalone-strict"
    target.mkdir(parents=True, exist_ok=True)
    for name in {schema_file_name(d) for d in documents if d["kind"] not in OPERATOR_KINDS}:
        schema = json.loads(_inline_references((LOCAL_STRICT / name).read_text()))
        schema.pop("$id", None)
        schema["$defs"] = definitions
        (target / name).write_text(json.dumps(schema))
    return str(
        into / "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/"
        "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )


def _inline_references(text: str) -> str:
    return text.replace('"/api/_definitions.json#/', '"#/')
