# PostgreSQL on RDS, in the private subnets, reachable from the Helios functions only.
# Encrypted; TLS forced; the master password made and rotated by RDS in Secrets Manager
# (the functions read it from there, it never passes through terraform variables).

variable "name" {
  type = string
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_id" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

variable "instance_class" {
  type = string
}

variable "engine_version" {
  type = string
}

variable "allocated_storage" {
  type = number
}

variable "multi_az" {
  type = bool
}

variable "backup_retention_days" {
  type = number
}

variable "force_destroy" {
  type = bool
}

variable "log_retention_days" {
  type = number
}

variable "proxy" {
  description = "RDS Proxy in front: the functions log in to it as app_user with IAM authentication; it logs in to the database as app_user with the password of a secret made here (migrate sets it on the role)."
  type        = bool
}

variable "proxy_security_group" {
  type = string
}

variable "app_user" {
  description = "The functions' database role."
  type        = string
}

locals {
  family = "postgres${split(".", var.engine_version)[0]}"
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-"
  family      = local.family

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Statements that change the schema, and any statement slower than a second.
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# RDS makes its log groups on first write; made here, they are encrypted and expire.
resource "aws_cloudwatch_log_group" "postgres" {
  for_each          = toset(["postgresql", "upgrade"])
  name              = "/aws/rds/instance/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

# Only Enhanced Monitoring acting for this instance may take the role (RDS user guide,
# "Protecting against the confused deputy problem").
data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:rds:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:db:${var.name}"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  # checkov:skip=CKV_AWS_293: deletion protection is on unless force_destroy is set, which is documented for trial deployments only
  # checkov:skip=CKV_AWS_157: a standby is var.db_multi_az, off by default because it doubles the database's cost; backups and PITR are on
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = "helios"
  username       = "helios"

  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.allocated_storage * 5
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.security_group_id]
  publicly_accessible    = false
  multi_az               = var.multi_az
  parameter_group_name   = aws_db_parameter_group.this.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  backup_retention_period             = var.backup_retention_days
  copy_tags_to_snapshot               = true
  deletion_protection                 = !var.force_destroy
  skip_final_snapshot                 = var.force_destroy
  # Named after the time the instance is made, so that the final snapshot of a second
  # deployment of the same name does not collide with the first one's.
  final_snapshot_identifier = var.force_destroy ? null : "${var.name}-final-${formatdate("YYYYMMDDhhmmss", timestamp())}"

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7

  depends_on = [aws_cloudwatch_log_group.postgres]

  lifecycle {
    # Its time is read once, when the instance is made: a later plan must not rename it.
    ignore_changes = [final_snapshot_identifier]
  }
}

output "host" {
  value = aws_db_instance.this.address
}

output "port" {
  value = aws_db_instance.this.port
}

output "name" {
  value = aws_db_instance.this.db_name
}

output "secret_arn" {
  value = aws_db_instance.this.master_user_secret[0].secret_arn
}

# ---- RDS Proxy (var.proxy) ----------------------------------------------------------------

# The password the proxy logs in to the database with, as the functions' role: made here
# once, then kept; migrate sets it on the role (as its SCRAM verifier).
data "aws_secretsmanager_random_password" "app" {
  count               = var.proxy ? 1 : 0
  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "app" {
  # checkov:skip=CKV2_AWS_57: migrate sets the role's password from this secret on every deploy; a rotation Lambda for it would be a second migrate (docs/deploy.md: rotate by changing the value, then apply)
  count       = var.proxy ? 1 : 0
  name_prefix = "${var.name}-db-${var.app_user}-"
  description = "Helios: the password RDS Proxy logs in to the database with, as ${var.app_user}"
  kms_key_id  = var.kms_key_arn
}

resource "aws_secretsmanager_secret_version" "app" {
  count     = var.proxy ? 1 : 0
  secret_id = aws_secretsmanager_secret.app[0].id
  secret_string = jsonencode({
    username = var.app_user
    password = data.aws_secretsmanager_random_password.app[0].random_password
  })

  lifecycle {
    ignore_changes = [secret_string]
  }
}

data "aws_iam_policy_document" "proxy_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["rds.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "proxy" {
  count = var.proxy ? 1 : 0
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.app[0].arn]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "proxy" {
  count              = var.proxy ? 1 : 0
  name               = "${var.name}-rds-proxy"
  assume_role_policy = data.aws_iam_policy_document.proxy_assume.json
}

resource "aws_iam_role_policy" "proxy" {
  count  = var.proxy ? 1 : 0
  role   = aws_iam_role.proxy[0].id
  policy = data.aws_iam_policy_document.proxy[0].json
}

resource "aws_db_proxy" "this" {
  count                  = var.proxy ? 1 : 0
  name                   = var.name
  engine_family          = "POSTGRESQL"
  require_tls            = true
  idle_client_timeout    = 1800
  role_arn               = aws_iam_role.proxy[0].arn
  vpc_subnet_ids         = var.subnet_ids
  vpc_security_group_ids = [var.proxy_security_group]

  auth {
    auth_scheme = "SECRETS"
    description = "The functions' role, ${var.app_user}"
    iam_auth    = "REQUIRED"
    secret_arn  = aws_secretsmanager_secret.app[0].arn
  }

  depends_on = [aws_iam_role_policy.proxy, aws_secretsmanager_secret_version.app]
}

# The proxy may take most of the instance's connections; the rest are for migrate (which
# connects to the instance itself) and for people.
resource "aws_db_proxy_default_target_group" "this" {
  count         = var.proxy ? 1 : 0
  db_proxy_name = aws_db_proxy.this[0].name

  connection_pool_config {
    max_connections_percent      = 85
    max_idle_connections_percent = 40
    connection_borrow_timeout    = 30
  }
}

resource "aws_db_proxy_target" "this" {
  count                  = var.proxy ? 1 : 0
  db_proxy_name          = aws_db_proxy.this[0].name
  target_group_name      = aws_db_proxy_default_target_group.this[0].name
  db_instance_identifier = aws_db_instance.this.identifier
}

output "proxy_endpoint" {
  value = var.proxy ? aws_db_proxy.this[0].endpoint : ""
}

# What IAM authentication to the proxy names: arn:…:rds-db:…:dbuser:prx-…/<user>.
output "proxy_resource_id" {
  value = var.proxy ? element(split(":", aws_db_proxy.this[0].arn), 6) : ""
}

output "app_secret_arn" {
  value = var.proxy ? aws_secretsmanager_secret.app[0].arn : ""
}

# What IAM database authentication names: arn:…:rds-db:…:dbuser:<resource id>/<user>.
output "resource_id" {
  value = aws_db_instance.this.resource_id
}

output "identifier" {
  value = aws_db_instance.this.identifier
}
