"""The processor's private network: isolated subnets in two AZs with no internet or NAT gateway, reaching AWS
only through VPC endpoints whose policies admit this pipeline's resources.

Gateway endpoints (S3, DynamoDB) carry the data path at no hourly cost. Interface endpoints are billed per
hour in each AZ (https://aws.amazon.com/privatelink/pricing/), so there is one only for an API the function's
own code calls from inside the VPC:

- SQS: the handler sends failed files to the dead-letter queue. Lambda's poller reads the ingest queue from
  the Lambda service, not from the function's network (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html);
- Secrets Manager: the handler reads the pseudonymization key (only when pseudonymization is on).

None for KMS: S3, SQS and Secrets Manager call KMS themselves for server-side encryption
(https://docs.aws.amazon.com/kms/latest/developerguide/service-integration.html); none for CloudWatch Logs:
Lambda captures the function's output and sends it (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html);
none for X-Ray: the SDK sends segments to the daemon Lambda runs, which relays them
(https://docs.aws.amazon.com/xray/latest/devguide/xray-daemon.html).
The security group lets the function open HTTPS connections and nothing else; the subnets have no route out of
the VPC except the gateway endpoints' prefix lists.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from awacs import aws
from awacs import dynamodb as ddb
from awacs import s3 as s3_actions
from troposphere import GetAtt, Output, Ref, Sub, ec2, iam, logs

from tap_templates import naming
from tap_templates.components import policies
from tap_templates.components.kms import DataKey
from tap_templates.components.table import TABLE_ACTIONS
from tap_templates.config import ISOLATED_ZONE_COUNT, PipelineConfig, subnet_zone_ids

AZ_COUNT = ISOLATED_ZONE_COUNT
HTTPS = 443
EPHEMERAL = (1024, 65535)
# Lambda uses ports 1024-65535 for its connections; return traffic from outside the VPC (the gateway endpoints'
# public ranges) is admitted on all of them but RDP's, which no network ACL may open to 0.0.0.0/0 (AWS Control
# Tower control CT.EC2.PR.5). A connection that happened to use 3389 locally times out and the SDK retries it.
RDP = 3389
PUBLIC_RETURN_RANGES = ((EPHEMERAL[0], RDP - 1), (RDP + 1, EPHEMERAL[1]))


def interface_endpoints(cfg: PipelineConfig) -> tuple[str, ...]:
    """The services the function's code calls from the VPC, besides S3 and DynamoDB (module docstring)."""
    return ("sqs", "secretsmanager") if cfg.pseudonymization.enabled else ("sqs",)


@dataclass(frozen=True)
class Network:
    vpc: ec2.VPC
    subnets: list[ec2.Subnet]
    route_table: ec2.RouteTable
    function_security_group: ec2.SecurityGroup
    endpoint_security_group: ec2.SecurityGroup
    others: list

    @property
    def subnet_ids(self) -> list[Ref]:
        return [Ref(s) for s in self.subnets]

    def resources(self) -> list:
        return [self.vpc, *self.subnets, self.route_table, self.function_security_group,
                self.endpoint_security_group, *self.others]

    def outputs(self) -> list[Output]:
        return [
            Output("VpcId", Value=Ref(self.vpc)),
            Output("PrivateSubnetIds", Value=Sub("${" + self.subnets[0].title + "},${" + self.subnets[1].title + "}")),
            Output("ProcessorSecurityGroupId", Value=Ref(self.function_security_group)),
        ]


def subnet_cidrs(cfg: PipelineConfig) -> list[str]:
    network = ipaddress.IPv4Network(cfg.network.cidr)
    new_prefix = min(network.prefixlen + 2, 28)
    return [str(s) for s in list(network.subnets(new_prefix=new_prefix))[:AZ_COUNT]]


def zone_ids(cfg: PipelineConfig, region: str) -> list[str]:
    """The subnets' zones by ID (``[network] zone_ids``), not ``Fn::GetAZs`` by index: zone names map to
    different physical zones in each account, and some interface endpoint services are not offered in every
    zone (AWS Regions and Availability Zones, "AZ IDs", global-infrastructure/latest/regions/az-ids.html; AWS
    PrivateLink Guide, "Access an AWS service using an interface VPC endpoint", which asks for subnets in zones
    the service supports). IDs keep render free of any AWS account; the deploy's pre-flight checks with
    ``DescribeVpcEndpointServices`` that every interface service is offered in these zones."""
    return subnet_zone_ids(cfg, region)


def _gateway_policies(cfg: PipelineConfig, region: str) -> dict[str, aws.PolicyDocument]:
    """Gateway endpoints carry every S3 and DynamoDB request from the subnets: admit only ours."""
    bucket = naming.bucket_arn(naming.ingest_bucket(cfg, region))
    anyone = aws.Principal("*")
    return {
        "s3": policies.document([
            aws.Statement(Sid="ReadIngestObjects", Effect=aws.Allow, Principal=anyone,
                          Action=[s3_actions.GetObject, s3_actions.GetObjectVersion], Resource=[Sub(f"{bucket}/*")]),
            # Without ListBucket S3 answers 403 for a missing key, not 404 (see function.execution_role).
            aws.Statement(Sid="ListIngestBucket", Effect=aws.Allow, Principal=anyone,
                          Action=[s3_actions.ListBucket], Resource=[Sub(bucket)]),
        ]),
        "dynamodb": policies.document([aws.Statement(
            Sid="WriteRecordsTable", Effect=aws.Allow, Principal=anyone,
            Action=[ddb.Action(a) for a in TABLE_ACTIONS], Resource=[Sub(naming.table_arn(cfg, region))])]),
    }


def _interface_policy(cfg: PipelineConfig, region: str, service: str) -> aws.PolicyDocument:
    anyone = aws.Principal("*")
    if service == "sqs":
        statement = aws.Statement(
            Sid="ReportFailedFiles", Effect=aws.Allow, Principal=anyone,
            Action=[aws.Action("sqs", "SendMessage")],
            Resource=[Sub(naming.queue_arn(region, naming.dead_letter_queue(cfg)))])
    else:  # secretsmanager
        statement = aws.Statement(
            Sid="PipelineSecret", Effect=aws.Allow, Principal=anyone,
            Action=[aws.Action("secretsmanager", "GetSecretValue")],
            Resource=[Sub(naming.secret_arn(cfg, region))])
    return policies.document([statement])


def _flow_logs(cfg: PipelineConfig, region: str, vpc: ec2.VPC, key: DataKey) -> list:
    group_name = naming.flow_log_group(cfg)
    group = logs.LogGroup("FlowLogGroup", LogGroupName=group_name, RetentionInDays=cfg.retention.log_days,
                          KmsKeyId=key.arn)
    group_arn = naming.log_group_arn(region, group_name)
    role = iam.Role(
        "FlowLogRole",
        Description="Delivers the pipeline VPC's flow logs to CloudWatch Logs",
        AssumeRolePolicyDocument=policies.document([aws.Statement(
            Effect=aws.Allow, Principal=policies.service_principal("vpc-flow-logs.amazonaws.com"),
            Action=[aws.Action("sts", "AssumeRole")],
            Condition=aws.Condition([
                aws.StringEquals("aws:SourceAccount", Sub(naming.ACCOUNT)),
                aws.ArnLike("aws:SourceArn",
                            Sub(f"arn:{naming.PARTITION}:ec2:{region}:{naming.ACCOUNT}:vpc-flow-log/*")),
            ]))]),
        PermissionsBoundary=policies.role_boundary(cfg),
        Policies=[iam.Policy(PolicyName="deliver-flow-logs", PolicyDocument=policies.document([
            policies.allow([aws.Action("logs", a) for a in ("CreateLogStream", "PutLogEvents")],
                           [f"{group_arn}:log-stream:*"], sid="WriteFlowLogGroup"),
            policies.allow([aws.Action("logs", "DescribeLogStreams")], [group_arn], sid="ListFlowLogStreams"),
        ]))],
    )
    flow_log = ec2.FlowLog(
        "VpcFlowLog", ResourceId=Ref(vpc), ResourceType="VPC", TrafficType="ALL",
        LogDestinationType="cloud-watch-logs", LogGroupName=Ref(group),
        DeliverLogsPermissionArn=GetAtt(role, "Arn"),
    )
    return [group, role, flow_log]


def _network_acl(cfg: PipelineConfig, vpc: ec2.VPC, subnets: list[ec2.Subnet]) -> list:
    """Stateless second line behind the security groups: HTTPS out (to endpoints and gateway prefix lists),
    HTTPS in from the VPC (to the interface endpoints), and the return traffic of both."""
    acl = ec2.NetworkAcl("PrivateNetworkAcl", VpcId=Ref(vpc))
    low, high = PUBLIC_RETURN_RANGES
    rules = [
        ("AclEgressHttps", 100, True, "0.0.0.0/0", (HTTPS, HTTPS)),
        ("AclEgressReturn", 110, True, cfg.network.cidr, EPHEMERAL),
        ("AclIngressHttps", 100, False, cfg.network.cidr, (HTTPS, HTTPS)),
        ("AclIngressReturnFromVpc", 105, False, cfg.network.cidr, EPHEMERAL),
        ("AclIngressReturn", 110, False, "0.0.0.0/0", low),
        ("AclIngressReturnAboveRdp", 120, False, "0.0.0.0/0", high),
    ]
    entries = [
        ec2.NetworkAclEntry(title, NetworkAclId=Ref(acl), RuleNumber=number, Egress=egress, Protocol=6,
                            RuleAction="allow", CidrBlock=cidr, PortRange=ec2.PortRange(From=low, To=high))
        for title, number, egress, cidr, (low, high) in rules
    ]
    associations = [
        ec2.SubnetNetworkAclAssociation(f"{s.title}AclAssociation", SubnetId=Ref(s), NetworkAclId=Ref(acl))
        for s in subnets
    ]
    return [acl, *entries, *associations]


def build(cfg: PipelineConfig, region: str, key: DataKey) -> Network:
    vpc = ec2.VPC("Vpc", CidrBlock=cfg.network.cidr, EnableDnsHostnames=True, EnableDnsSupport=True)
    subnets = [
        ec2.Subnet(f"PrivateSubnet{i + 1}", VpcId=Ref(vpc), CidrBlock=cidr, AvailabilityZoneId=zone,
                   MapPublicIpOnLaunch=False)
        for i, (cidr, zone) in enumerate(zip(subnet_cidrs(cfg), zone_ids(cfg, region), strict=True))
    ]
    route_table = ec2.RouteTable("PrivateRouteTable", VpcId=Ref(vpc))
    associations = [
        ec2.SubnetRouteTableAssociation(f"{s.title}RouteTableAssociation", SubnetId=Ref(s),
                                        RouteTableId=Ref(route_table))
        for s in subnets
    ]
    endpoint_sg = ec2.SecurityGroup(
        "EndpointSecurityGroup", VpcId=Ref(vpc),
        GroupDescription="Interface endpoints: HTTPS from the processor only",
        SecurityGroupEgress=[ec2.SecurityGroupRule(
            IpProtocol="-1", CidrIp="127.0.0.1/32", Description="No egress: endpoints only answer")],
    )
    function_sg = ec2.SecurityGroup(
        "ProcessorSecurityGroup", VpcId=Ref(vpc),
        GroupDescription="Processor function: HTTPS to the VPC endpoints only",
        SecurityGroupEgress=[ec2.SecurityGroupRule(
            IpProtocol="tcp", FromPort=HTTPS, ToPort=HTTPS, CidrIp="0.0.0.0/0",
            Description="HTTPS; the subnets route only to VPC endpoints, so nothing else is reachable")],
    )
    endpoint_ingress = ec2.SecurityGroupIngress(
        "EndpointIngressFromProcessor", GroupId=Ref(endpoint_sg), IpProtocol="tcp", FromPort=HTTPS, ToPort=HTTPS,
        SourceSecurityGroupId=Ref(function_sg), Description="HTTPS from the processor function")
    gateway_policies = _gateway_policies(cfg, region)
    endpoints = [
        ec2.VPCEndpoint(
            f"{service.title()}GatewayEndpoint", VpcId=Ref(vpc), VpcEndpointType="Gateway",
            ServiceName=f"com.amazonaws.{region}.{service}", RouteTableIds=[Ref(route_table)],
            PolicyDocument=gateway_policies[service])
        for service in ("s3", "dynamodb")
    ]
    endpoints += [
        ec2.VPCEndpoint(
            f"{service.title()}InterfaceEndpoint", VpcId=Ref(vpc), VpcEndpointType="Interface",
            ServiceName=f"com.amazonaws.{region}.{service}", PrivateDnsEnabled=True,
            SubnetIds=[Ref(s) for s in subnets], SecurityGroupIds=[Ref(endpoint_sg)],
            PolicyDocument=_interface_policy(cfg, region, service))
        for service in interface_endpoints(cfg)
    ]
    others = [*associations, endpoint_ingress, *endpoints, *_network_acl(cfg, vpc, subnets),
              *_flow_logs(cfg, region, vpc, key)]
    return Network(vpc=vpc, subnets=subnets, route_table=route_table, function_security_group=function_sg,
                   endpoint_security_group=endpoint_sg, others=others)
