# The VPC the database and the functions that reach it live in. Private subnets only: no
# internet gateway, no NAT. The functions reach AWS through VPC endpoints (gateway ones for
# S3 and DynamoDB, interface ones for SNS, Step Functions, Secrets Manager and, when advise
# uses a model, Bedrock).

variable "name" {
  type = string
}

variable "cidr" {
  type = string
}

variable "az_count" {
  type = number
}

variable "interface_endpoints_in_every_az" {
  type = bool
}

variable "interface_services" {
  description = "The AWS services reached through interface endpoints."
  type        = list(string)
}

variable "proxy" {
  description = "Whether RDS Proxy stands between the functions and the database (its security group, and the rules to and from it)."
  type        = bool
}

variable "gateway_resources" {
  description = "What the functions may reach through each gateway endpoint (s3, dynamodb): the endpoint policy allows these resources, to principals of this account, and nothing else."
  type        = map(list(string))
}

variable "kms_key_arn" {
  type = string
}

variable "log_retention_days" {
  type = number
}

# A closed set of zones (the region's a to f), so that a zone AWS adds later never moves a
# subnet.
data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "zone-name"
    values = [for letter in ["a", "b", "c", "d", "e", "f"] : "${data.aws_region.current.name}${letter}"]
  }
}

data "aws_region" "current" {}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  # Interface endpoints cost per AZ and hour (docs/deploy.md): one zone by default, every
  # zone of the VPC when asked (a zone's outage then leaves the others their endpoints).
  endpoint_subnets   = var.interface_endpoints_in_every_az ? aws_subnet.private[*].id : [aws_subnet.private[0].id]
  interface_services = toset(var.interface_services)
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = var.name }
}

# Nothing may use the default security group.
resource "aws_default_security_group" "locked" {
  vpc_id = aws_vpc.this.id
}

resource "aws_subnet" "private" {
  count             = var.az_count
  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.cidr, 4, count.index)
  tags              = { Name = "${var.name}-private-${local.azs[count.index]}" }
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.name}-private" }
}

resource "aws_route_table_association" "private" {
  count          = var.az_count
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# Endpoint policies: a gateway endpoint reaches Helios' bucket and table only; an interface
# endpoint serves principals of this account, acting on resources of this account (but
# Bedrock's, whose models AWS owns). A leaked credential of another account, or a function
# told to write elsewhere, gets nowhere through them.
data "aws_iam_policy_document" "gateway" {
  for_each = var.gateway_resources
  statement {
    actions   = ["${each.key}:*"]
    resources = each.value
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "interface" {
  for_each = local.interface_services
  statement {
    # The service's own actions (Bedrock's runtime endpoint serves `bedrock:` actions).
    actions   = ["${each.key == "bedrock-runtime" ? "bedrock" : each.key}:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    dynamic "condition" {
      for_each = each.key == "bedrock-runtime" ? [] : [1]
      content {
        test     = "StringEquals"
        variable = "aws:ResourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }
}

resource "aws_vpc_endpoint" "gateway" {
  for_each          = var.gateway_resources
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  policy            = data.aws_iam_policy_document.gateway[each.key].json
  tags              = { Name = "${var.name}-${each.key}" }
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.interface_services
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.endpoint_subnets
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  policy              = data.aws_iam_policy_document.interface[each.key].json
  tags                = { Name = "${var.name}-${each.key}" }
}

resource "aws_security_group" "functions" {
  # checkov:skip=CKV2_AWS_5: attached to the functions in the VPC (modules/functions, vpc_config)
  name        = "${var.name}-functions"
  description = "Helios functions: out to the database and the AWS endpoints only"
  vpc_id      = aws_vpc.this.id
}

resource "aws_security_group" "database" {
  # checkov:skip=CKV2_AWS_5: attached to the database (modules/database, vpc_security_group_ids)
  name        = "${var.name}-database"
  description = "Helios database: PostgreSQL from the Helios functions only"
  vpc_id      = aws_vpc.this.id
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "Helios interface endpoints: HTTPS from the Helios functions only"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_egress_rule" "functions_to_database" {
  security_group_id            = aws_security_group.functions.id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.database.id
}

resource "aws_vpc_security_group_egress_rule" "functions_to_endpoints" {
  security_group_id            = aws_security_group.functions.id
  description                  = "HTTPS to the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
}

resource "aws_vpc_security_group_egress_rule" "functions_to_gateways" {
  for_each          = aws_vpc_endpoint.gateway
  security_group_id = aws_security_group.functions.id
  description       = "HTTPS to ${each.key} through its gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value.prefix_list_id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_functions" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the Helios functions"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.functions.id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_functions" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the Helios functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.functions.id
}

# Flow logs: rejected traffic, to an encrypted log group.
resource "aws_cloudwatch_log_group" "flow" {
  name              = "/helios/${var.name}/vpc-flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# Only the flow-log service acting for this account's flow logs may take the role.
data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:vpc-flow-log/*"]
    }
  }
}

data "aws_iam_policy_document" "flow" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow.arn}:*"]
  }
}

resource "aws_iam_role" "flow" {
  name               = "${var.name}-vpc-flow"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
}

resource "aws_iam_role_policy" "flow" {
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.flow.json
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "REJECT"
  log_destination = aws_cloudwatch_log_group.flow.arn
  iam_role_arn    = aws_iam_role.flow.arn
}

output "vpc_id" {
  value = aws_vpc.this.id
}

output "private_subnet_ids" {
  value = aws_subnet.private[*].id
}

output "functions_security_group_id" {
  value = aws_security_group.functions.id
}

# RDS Proxy, when there is one: from the functions, to the database.
resource "aws_security_group" "proxy" {
  # checkov:skip=CKV2_AWS_5: attached to the proxy (modules/database, vpc_security_group_ids)
  count       = var.proxy ? 1 : 0
  name        = "${var.name}-proxy"
  description = "Helios RDS Proxy: PostgreSQL from the Helios functions, to the database"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_egress_rule" "functions_to_proxy" {
  count                        = var.proxy ? 1 : 0
  security_group_id            = aws_security_group.functions.id
  description                  = "PostgreSQL through RDS Proxy"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.proxy[0].id
}

resource "aws_vpc_security_group_ingress_rule" "proxy_from_functions" {
  count                        = var.proxy ? 1 : 0
  security_group_id            = aws_security_group.proxy[0].id
  description                  = "PostgreSQL from the Helios functions"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.functions.id
}

resource "aws_vpc_security_group_egress_rule" "proxy_to_database" {
  count                        = var.proxy ? 1 : 0
  security_group_id            = aws_security_group.proxy[0].id
  description                  = "PostgreSQL to the database"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.database.id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_proxy" {
  count                        = var.proxy ? 1 : 0
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from RDS Proxy"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.proxy[0].id
}

output "proxy_security_group_id" {
  value = var.proxy ? aws_security_group.proxy[0].id : ""
}

output "database_security_group_id" {
  value = aws_security_group.database.id
}
