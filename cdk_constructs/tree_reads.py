"""Reading the construct tree from Python with few jsii calls.

CDK runs in a node process; every property a Python construct reads, and every call an aspect
gets, is a round trip to it (~0.1 ms, several times that on a loaded machine). Walking the ~450
constructs of a stage property by property costs thousands of them per synth.
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import ConstructOrder, IConstruct

_TYPE_OF_CLASS: dict[type[CfnResource], str | None] = {}
"""L1 class -> the CloudFormation type all its resources have (None: set per resource)."""


def node_key(construct: IConstruct) -> str:
    """The identity of a construct: jsii makes a new Python object each time it hands over one
    made in node (not in Python), but always with the same reference."""
    reference: str = getattr(construct, "__jsii_ref__").ref  # noqa: B009 - no public name
    return reference


def resource_type(resource: CfnResource) -> str:
    """The CloudFormation type of an L1 resource, read from its class (``CFN_RESOURCE_TYPE_NAME``,
    one jsii call per class) rather than asked of each resource. A plain ``CfnResource`` (custom
    resources, CDK's own provider functions) names its type itself, so it is asked."""
    cls = type(resource)
    if cls not in _TYPE_OF_CLASS:
        _TYPE_OF_CLASS[cls] = getattr(cls, "CFN_RESOURCE_TYPE_NAME", None)
    fixed = _TYPE_OF_CLASS[cls]
    return fixed if fixed is not None else resource.cfn_resource_type


class ConstructTree:
    """The constructs under a scope (the scope first, each before its children: the order
    aspects visit them in), and which is below which, from two jsii calls and no path: a
    construct comes before what is below it in preorder and after it in postorder."""

    def __init__(self, scope: IConstruct) -> None:
        self.scope = scope
        self.preorder = scope.node.find_all(ConstructOrder.PREORDER)
        self._before = {node_key(construct): i for i, construct in enumerate(self.preorder)}
        self._after: dict[str, int] = {}  # read on the first question that needs it
        self._paths: dict[str, str] = {}

    def contains(self, scope: str, key: str) -> bool:
        """True when construct ``key`` is construct ``scope`` or below it (both in the tree)."""
        if not self._after:
            postorder = self.scope.node.find_all(ConstructOrder.POSTORDER)
            self._after = {node_key(construct): i for i, construct in enumerate(postorder)}
        return self._before[scope] <= self._before[key] and self._after[key] <= self._after[scope]

    def holds(self, scope: IConstruct, key: str) -> bool:
        """``contains`` for a ``scope`` that may be outside the tree, by path then (as
        ``path == scope or path.startswith(scope + "/")``: the app, path "", holds nothing)."""
        scope_key = node_key(scope)
        if scope_key in self._before:
            return self.contains(scope_key, key)
        if scope_key not in self._paths:
            self._paths[scope_key] = scope.node.path
        if key not in self._paths:
            self._paths[key] = self.preorder[self._before[key]].node.path
        path, outer = self._paths[key], self._paths[scope_key]
        return path == outer or path.startswith(f"{outer}/")
