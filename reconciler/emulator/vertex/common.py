"""What the Vertex AI resource modules share: names from the matched route, list limits, type URLs."""

from __future__ import annotations

from ..names import project_number
from ..routing import ApiRequest

TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
LIST_DEFAULT, LIST_MAX = 100, 1000      # not documented by Google (reference: Pagination); chosen here
Q_RESOURCE_LIST = frozenset({"filter", "pageSize", "pageToken", "orderBy", "readMask"})   # models, endpoints
# order_by keys of models.list and endpoints.list, on their records
ORDER_KEYS = {"display_name": "displayName", "displayName": "displayName", "create_time": "createTime",
              "createTime": "createTime", "update_time": "updateTime", "updateTime": "updateTime"}


def location(request: ApiRequest) -> str:
    """`projects/{number}/locations/{location}` of a routed request: names use the project NUMBER."""
    return f"projects/{project_number(request.params['project'])}/locations/{request.params['location']}"


def resource(request: ApiRequest, collection: str, param: str) -> str:
    """The full name of the `collection` resource whose ID the route captured as `param`."""
    return f"{location(request)}/{collection}/{request.params[param]}"
