"""The published output schemas: self-contained, plain JSON Schema that accepts every result the tools
return and refuses a value of the wrong type, as the MCP SDK's jsonschema check and OpenClaw's Ajv read it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pydantic
import pytest
from jsonschema import Draft202012Validator

from sidecar.mcp._results import RESULT_MODELS, ListResult, structured
from tests.mcp.test_tool_surface import surface

REPO = Path(__file__).resolve().parents[2]
NODE = REPO / ".cache" / "bin" / "node"
# The validator OpenClaw's MCP client uses for a schema without a draft 2020-12 `$schema` (ours have none):
# the MCP TypeScript SDK's default Ajv, from OpenClaw's own install.
SDK = REPO / ".cache" / "openclaw" / "node_modules" / "@modelcontextprotocol" / "sdk"
AJV_PROVIDER = SDK / "dist" / "esm" / "validation" / "ajv-provider.js"
KEYWORDS = {"type", "properties", "required", "items", "enum", "const", "anyOf", "description"}

ROW = {
    "key": "agent:dev-1:subagent:0001",
    "kind": "other",
    "agent": "dev-1",
    "gateway": "home",
    "label": "nightly",
    "displayName": "task 1",
    "channel": "slack",
    "status": "running",
    "spawnedBy": "agent:dev-1:main",
    "parentSessionKey": "agent:dev-1:main",
    "spawnDepth": 1,
    "startedAt": 1_795_000_000_000,
    "endedAt": 1_795_000_001_000,
    "updatedAt": 1_795_000_001_000,
    "sessionId": "0001-1111",
    "model": "stub-echo",
}


def page() -> dict[str, Any]:
    """A sessions_list result with every row field set, as the tool sends it."""
    raw = {
        "count": 2,
        "sessions": [ROW, {"key": "agent:dev-1:main", "kind": "main"}],
        "mirror": {"fresh": False, "note": "served from the local mirror"},
        "visibility": {"mode": "all", "restricted": True, "hidden": 3, "source": "p.json5:1", "warning": "w"},
    }
    content = structured(ListResult.model_validate(raw)).structured_content
    assert content is not None
    return content


def wrong_pages() -> list[tuple[str, dict[str, Any]]]:
    """One wrong value (or a missing required field) per case, anywhere in a page."""
    out: list[tuple[str, dict[str, Any]]] = []
    for field, value in ROW.items():
        bad = page()
        bad["sessions"][0][field] = "7" if isinstance(value, int) else 7
        out.append((f"sessions[0].{field}", bad))
    for field in ("key", "kind"):
        bad = page()
        del bad["sessions"][1][field]
        out.append((f"sessions[1] without {field}", bad))
    for path, value in (
        (("count",), "2"),
        (("sessions",), {"0": ROW}),
        (("sessions", 1), "agent:dev-1:main"),
        (("mirror", "fresh"), "no"),
        (("mirror", "note"), 1),
        (("visibility", "hidden"), True),
        (("visibility", "restricted"), 1),
        (("visibility", "source"), None),
        (("visibility", "warning"), []),
    ):
        bad = page()
        node: Any = bad
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
        out.append((".".join(map(str, path)), bad))
    bad = page()
    del bad["visibility"]
    out.append(("without visibility", bad))
    return out


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def schema_nodes(schema: Any) -> list[dict[str, Any]]:
    """Every schema object in `schema` (the values of `properties` maps, not the maps themselves)."""
    if not isinstance(schema, dict):
        return []
    found = [schema]
    for key, value in schema.items():
        if key == "properties":
            found += [node for prop in value.values() for node in schema_nodes(prop)]
        elif key == "items":
            found += schema_nodes(value)
        elif key == "anyOf":
            found += [node for option in value for node in schema_nodes(option)]
    return found


@pytest.mark.parametrize("tool", sorted(RESULT_MODELS))
def test_each_output_schema_is_self_contained_and_uses_plain_keywords_only(tool: str) -> None:
    schema = RESULT_MODELS[tool].model_json_schema()
    Draft202012Validator.check_schema(schema)
    assert "$ref" not in json.dumps(schema) and "$defs" not in schema
    for node in schema_nodes(schema):
        assert set(node) <= KEYWORDS, f"{tool}: {sorted(set(node) - KEYWORDS)}"
    assert schema["type"] == "object" and set(schema["required"]) <= set(schema["properties"])


def test_a_page_validates_and_every_wrong_type_is_refused_as_the_model_refuses_it() -> None:
    check = Draft202012Validator(ListResult.model_json_schema())
    assert list(check.iter_errors(page())) == []
    extra = page()
    extra["sessions"][0]["newField"] = {"a newer sidecar": "may say more"}
    assert list(check.iter_errors(extra)) == []
    for where, bad in wrong_pages():
        assert list(check.iter_errors(bad)), f"accepted a wrong {where}"
        with pytest.raises(pydantic.ValidationError):
            ListResult.model_validate(bad, strict=True)


def test_absent_optional_fields_are_left_out_never_sent_as_null() -> None:
    content = page()
    assert content["sessions"][1] == {"key": "agent:dev-1:main", "kind": "main"}
    assert None not in content["sessions"][0].values()


@pytest.mark.gateway
def test_openclaws_ajv_validator_accepts_a_page_and_refuses_every_wrong_type() -> None:
    """The MCP TypeScript SDK's AjvJsonSchemaValidator from OpenClaw's own install (what OpenClaw's MCP
    client checks a result with) compiles every output schema, accepts a page and refuses each wrong one."""
    if not (NODE.exists() and AJV_PROVIDER.exists()):
        message = f"{NODE} or {AJV_PROVIDER} is missing: run scripts/gateway install (scripts/test does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    script = f"""
        const {{ AjvJsonSchemaValidator }} = await import({json.dumps(AJV_PROVIDER.as_uri())});
        const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
        const ajv = new AjvJsonSchemaValidator();
        for (const schema of Object.values(input.schemas)) ajv.getValidator(schema);
        const check = ajv.getValidator(input.schemas.sessions_list);
        console.log(JSON.stringify(input.pages.map((p) => check(p).valid)));
    """
    cases = [("a page", page()), *wrong_pages()]
    schemas = {tool: model.model_json_schema() for tool, model in RESULT_MODELS.items()}
    result = subprocess.run(
        [str(NODE), "--input-type=commonjs", "-e", f"(async () => {{ {script} }})()"],
        input=json.dumps({"schemas": schemas, "pages": [p for _, p in cases]}),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(result.stdout.strip().splitlines()[-1])
    assert verdicts == [True] + [False] * (len(cases) - 1), [
        w for (w, _), v in zip(cases, verdicts, strict=True) if v
    ]


@pytest.mark.anyio
async def test_every_tool_publishes_its_result_models_schema() -> None:
    _, shown = await surface()
    assert {str(t["name"]): t["output_schema"] for t in shown} == {
        tool: model.model_json_schema() for tool, model in RESULT_MODELS.items()
    }
