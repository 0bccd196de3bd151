"""Helpers for botocore Stubber tests of Personalize: queue one ListDataDeletionJobs page with its exact params."""

from __future__ import annotations


def expect_list(stubber, items, *, token=None, next_token=None, group=None):
    params = {"maxResults": 100}
    if token:
        params["nextToken"] = token
    if group:
        params["datasetGroupArn"] = group
    response = {"dataDeletionJobs": items}
    if next_token:
        response["nextToken"] = next_token
    stubber.add_response("list_data_deletion_jobs", response, params)
