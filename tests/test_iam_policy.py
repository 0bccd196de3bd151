"""The README's IAM policy, and the access-denied answer, name exactly the Personalize actions the code calls.

The calls are read from the gateway's source (every `self._call("<method>", …)`), so a new call without a
policy line, or a policy line for a call that went away, fails here.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import boto3

from blocks.errors import render_error
from services.errors import AwsAccessDenied

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = ROOT / "services" / "aws" / "personalize.py"


def called_actions() -> set[str]:
    """`personalize:<Operation>` for every API method the gateway passes to `_call`."""
    methods = set()
    for node in ast.walk(ast.parse(GATEWAY.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "_call"
                and node.args and isinstance(node.args[0], ast.Constant)):
            methods.add(node.args[0].value)
    client = boto3.client("personalize", region_name="us-east-1")
    return {f"personalize:{client.meta.method_to_api_mapping[method]}" for method in methods}


def readme_policy_actions() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### IAM policy", 1)[1]
    policy = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def test_the_readme_policy_grants_exactly_what_the_code_calls():
    assert called_actions() == readme_policy_actions()


def test_the_access_denied_answer_names_the_same_actions():
    text = render_error(AwsAccessDenied("denied"))["text"]
    assert set(re.findall(r"personalize:\w+", text)) == called_actions()


def test_the_gateway_reading_finds_its_calls():
    assert {"personalize:ListDataDeletionJobs", "personalize:ListDatasetGroups"} <= called_actions()
