"""EC2 resources created by CloudFormation.

Gap: ``AWS::EC2::RouteTable`` is never deleted with its stack (moto's model has no ``delete``), so deleting the
stack's VPC fails with ``DependencyViolation``. The patch deletes it like the other EC2 resources.

Gap: ``AWS::EC2::Subnet`` ignores ``AvailabilityZoneId`` and puts such a subnet in ``us-east-1a`` whatever the
region. The patch places it in the zone with that ID in the stack's region, as EC2 does.
"""

from __future__ import annotations

from typing import Any

from tap_templates.local.patches.guard import Patch

ROUTE_TABLE_DELETE = Patch("ec2: route tables deleted with their stack")
SUBNET_ZONE_ID = Patch("ec2: subnets placed by AvailabilityZoneId")
CREATE_PARAMETERS = ("resource_name", "cloudformation_json", "account_id", "region_name", "kwargs")


def patch_route_table_delete() -> None:
    patch = ROUTE_TABLE_DELETE
    ec2 = patch.module("moto.ec2.models")
    backends = patch.require(ec2, "ec2_backends")
    patch.require(patch.require(ec2, "EC2Backend"), "delete_route_table")
    route_table_cls = patch.require(patch.module("moto.ec2.models.route_tables"), "RouteTable")

    def delete(self: Any, account_id: str, region_name: str) -> None:
        backends[account_id][region_name].delete_route_table(self.id)

    route_table_cls.delete = delete


def patch_subnet_zone_id() -> None:
    patch = SUBNET_ZONE_ID
    subnet_cls = patch.require(patch.module("moto.ec2.models.subnets"), "Subnet")
    create = patch.require_classmethod(subnet_cls, "create_from_cloudformation_json", CREATE_PARAMETERS)
    zones = patch.require(patch.require(patch.module("moto.ec2.models.availability_zones_and_regions"),
                                        "RegionsAndZonesBackend"), "zones")

    def create_subnet(cls: type, name: str, cfn: dict[str, Any], account_id: str, region_name: str,
                      **kwargs: Any) -> Any:
        props = cfn["Properties"]
        named = [z.name for z in zones.get(region_name, []) if z.zone_id == props.get("AvailabilityZoneId")]
        if named and "AvailabilityZone" not in props:
            cfn = {**cfn, "Properties": {**props, "AvailabilityZone": named[0]}}
        return create(cls, name, cfn, account_id, region_name, **kwargs)

    subnet_cls.create_from_cloudformation_json = classmethod(create_subnet)
