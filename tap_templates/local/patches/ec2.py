"""EC2 resources created by CloudFormation.

Gap: ``AWS::EC2::RouteTable`` is never deleted with its stack (moto's model has no ``delete``), so deleting the
stack's VPC fails with ``DependencyViolation``. The patch deletes it like the other EC2 resources.
"""

from __future__ import annotations

from typing import Any

from tap_templates.local.patches.guard import Patch

ROUTE_TABLE_DELETE = Patch("ec2: route tables deleted with their stack")


def patch_route_table_delete() -> None:
    patch = ROUTE_TABLE_DELETE
    ec2 = patch.module("moto.ec2.models")
    backends = patch.require(ec2, "ec2_backends")
    patch.require(patch.require(ec2, "EC2Backend"), "delete_route_table")
    route_table_cls = patch.require(patch.module("moto.ec2.models.route_tables"), "RouteTable")

    def delete(self: Any, account_id: str, region_name: str) -> None:
        backends[account_id][region_name].delete_route_table(self.id)

    route_table_cls.delete = delete
