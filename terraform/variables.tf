variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource name; one deployment per name and account."
  type        = string
  default     = "helios"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2 to 21 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "artifacts_dir" {
  description = "Where terraform/package.sh put the function zips (<fn>/bootstrap.zip) and config.zip."
  type        = string
  default     = "../target/lambda"
}

variable "architecture" {
  description = "Lambda architecture the zips were built for: arm64 (package.sh's default, cheaper) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture: arm64 or x86_64."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC the database and the functions live in."
  type        = string
  default     = "10.42.0.0/16"
}

variable "az_count" {
  description = "Availability zones of the private subnets (RDS needs at least two)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count: 2 to 4."
  }
}

variable "interface_endpoints_in_every_az" {
  description = "Interface endpoints (SNS, Step Functions, Secrets Manager) in every AZ rather than one; each costs per AZ and hour."
  type        = bool
  default     = false
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_engine_version" {
  description = "PostgreSQL major version. RDS picks the minor version and upgrades it in the maintenance window (a pinned minor version would plan a downgrade after each upgrade, and RDS stops creating old minors)."
  type        = string
  default     = "16"
  validation {
    condition     = can(regex("^[0-9]+$", var.db_engine_version))
    error_message = "db_engine_version is a major version only, such as \"16\": RDS upgrades the minor version itself."
  }
}

variable "db_allocated_storage" {
  description = "Database storage in GiB (autoscales to five times this)."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "A standby database in a second AZ (doubles its cost)."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups."
  type        = number
  default     = 7
}

variable "force_destroy" {
  description = "Let `terraform destroy` remove the archive bucket, the table and the database without a final snapshot. For trial deployments only."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps logs."
  type        = number
  default     = 365
}

variable "workflow_log_level" {
  description = "What the state machines log to CloudWatch: ERROR (the default: failures, without execution data), FATAL, OFF, or ALL (every event with its input and output, which holds decision text and task tokens)."
  type        = string
  default     = "ERROR"
  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.workflow_log_level)
    error_message = "workflow_log_level is one of ALL, ERROR, FATAL, OFF."
  }
}

variable "log_level" {
  description = "RUST_LOG of every function."
  type        = string
  default     = "info"
}

variable "otlp_endpoint" {
  description = "Where every function exports its OpenTelemetry spans (OTLP over plain HTTP; OTEL_EXPORTER_OTLP_ENDPOINT), for example http://localhost:4318 with the ADOT collector layer of otel_layer_arn, or a collector in the VPC. Empty: spans are not exported (Lambda and Step Functions still trace to X-Ray, with the same trace ids)."
  type        = string
  default     = ""
  validation {
    condition     = var.otlp_endpoint == "" || can(regex("^http://[^/]+", var.otlp_endpoint))
    error_message = "otlp_endpoint is a plain HTTP URL (http://host:port): the functions export to a collector beside them, which forwards over TLS."
  }
}

variable "otel_layer_arn" {
  description = "A Lambda layer with an OpenTelemetry collector (the AWS Distro for OpenTelemetry collector layer of the region), added to every function; with otlp_endpoint = http://localhost:4318. Empty: none."
  type        = string
  default     = ""
}

variable "archive_ia_after_days" {
  description = "Days before raw payloads move to S3 Standard-IA (at least 30, as S3 requires)."
  type        = number
  default     = 30
  validation {
    condition     = var.archive_ia_after_days >= 30
    error_message = "archive_ia_after_days must be 30 or more: S3 moves objects to Standard-IA no sooner."
  }
}

variable "archive_expire_after_days" {
  description = "Days raw payloads are kept (0: for ever), after their move to Standard-IA. Replays reach back this far."
  type        = number
  default     = 0
  validation {
    condition     = var.archive_expire_after_days >= 0
    error_message = "archive_expire_after_days is 0 (keep for ever) or a number of days."
  }
  # That it follows archive_ia_after_days is checked by the storage module (a validation may
  # name another variable only from terraform 1.9 on; this deployment takes 1.6).
}

variable "max_receives" {
  description = "Receives of a message before it goes to its dead-letter queue."
  type        = number
  default     = 5
}

variable "reserve_concurrency" {
  description = "Reserve each database function's concurrency (function_concurrency, decide_max_concurrency), which bounds the database connections they can open. The account must keep 100 unreserved: a new account whose concurrency limit is still 10 cannot reserve any, so set false there and db_proxy = true (or ask AWS to raise the limit)."
  type        = bool
  default     = true
}

variable "decide_max_concurrency" {
  description = "At most this many decide invocations at once (each holds up to 2 database connections)."
  type        = number
  default     = 5
}

variable "discover_schemas" {
  description = "Schema discovery: the first event of a (source, type) without a schema registers the schema inferred from it; later events that differ are drift (helios.schema.drifted)."
  type        = bool
  default     = false
}

variable "api_throttle_rate" {
  description = "Requests per second the API accepts in all (each key also has its own rate limit)."
  type        = number
  default     = 200
}

variable "api_throttle_burst" {
  description = "Burst of the API's throttle."
  type        = number
  default     = 400
}

variable "notify_channels" {
  description = "The notify channels (JSON: {\"chat\": {\"url\": \"https://hooks.slack.com/…\", \"secret\": \"…\"}}), kept in Secrets Manager."
  type        = string
  default     = "{}"
  sensitive   = true
}

variable "notify_emails" {
  description = "Addresses that get decisions by mail (channel `email` of the rules); each confirms the subscription mail SNS sends."
  type        = list(string)
  default     = []
}

variable "bedrock_model_id" {
  description = "Amazon Bedrock model (or inference profile) id with which `advise` writes its advisory notes, e.g. eu.anthropic.claude-3-haiku-20240307-v1:0 (enable access to it in the Bedrock console first); empty: the deterministic summary of similar decisions."
  type        = string
  default     = ""
}

variable "alarm_email" {
  description = "Email address that receives the alarms (confirm the subscription mail); empty for none."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}

variable "db_proxy" {
  description = "RDS Proxy in front of the database: the functions log in to the proxy with IAM authentication, the proxy pools their connections, so no function's concurrency need be reserved for the database's sake. Costs per vCPU-hour of the instance, at least two vCPUs' worth (docs/deploy.md)."
  type        = bool
  default     = false
}

variable "db_max_connections" {
  description = "The database's max_connections. 0: RDS's default for the instance class, LEAST(DBInstanceClassMemory/9531392, 5000), estimated from the class's memory (docs/deploy.md); set it to what `SHOW max_connections` answers when the estimate is off or the class is not known."
  type        = number
  default     = 0

  validation {
    condition     = var.db_max_connections == 0 || var.db_max_connections >= 25
    error_message = "db_max_connections: 0 (estimate it from the instance class) or at least 25."
  }
}

variable "function_concurrency" {
  description = "The most invocations at once of each function that reaches the database (decide's is decide_max_concurrency), reserved when reserve_concurrency is set. Without RDS Proxy, the sum of each one's concurrency times its pool must stay under the database's connections (checked at plan; docs/deploy.md shows the arithmetic)."
  type        = map(number)
  default = {
    ingest = 20
    query  = 8
    ack    = 4
    relay  = 1
    expect = 2
    record = 8
    advise = 4
  }

  validation {
    condition     = alltrue([for f in ["ingest", "query", "ack", "relay", "expect", "record", "advise"] : contains(keys(var.function_concurrency), f) && var.function_concurrency[f] >= 1])
    error_message = "function_concurrency: a number, 1 or more, for each of ingest, query, ack, relay, expect, record and advise."
  }

  validation {
    condition     = lookup(var.function_concurrency, "expect", 2) >= 2
    error_message = "function_concurrency.expect: at least 2 (the least an SQS event source mapping runs)."
  }
}

variable "dashboard_price_class" {
  description = "The CloudFront price class of the dashboard's distribution (PriceClass_100: North America and Europe; PriceClass_All: every edge location)."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.dashboard_price_class)
    error_message = "dashboard_price_class: PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "dashboard_web_acl_arn" {
  description = "A WAF web ACL (scope CLOUDFRONT, made in us-east-1) for the dashboard's distribution; empty for none."
  type        = string
  default     = ""
}

variable "slo" {
  description = "The service level objectives (GET /v1/slo, and the burn-rate alarms): an event decided within `within` of its receipt, `objective` percent of them; a decision's workflow recording within its `within`; a reconciliation's sources all reporting alike; the error budget over `period`. Spans as the rules write them (5s, 1m, 30d)."
  type = object({
    period = optional(string, "30d")
    event_to_decision = optional(object({
      within    = string
      objective = number
    }), { within = "5s", objective = 99 })
    decision_to_notification = optional(object({
      within    = string
      objective = number
    }), { within = "1m", objective = 99 })
    reconciliation_accuracy = optional(object({
      objective = number
    }), { objective = 99 })
  })
  default = {}

  validation {
    condition = alltrue([
      for o in [var.slo.event_to_decision, var.slo.decision_to_notification] :
      o.objective > 0 && o.objective < 100 && can(regex("^([0-9]+[smhd])+$", o.within))
      ]) && can(regex("^([0-9]+[smhd])+$", var.slo.period)) && (
      var.slo.reconciliation_accuracy.objective > 0 && var.slo.reconciliation_accuracy.objective < 100
    )
    error_message = "slo: each objective is a percent above 0 and below 100, each `within` and the `period` a span such as 5s, 1m or 30d."
  }
}

variable "archive_every_minutes" {
  description = "Minutes between runs of the archive function, which writes what the store recorded since the last run (facts, decisions, outcomes) as Parquet for Athena."
  type        = number
  default     = 5

  validation {
    condition     = var.archive_every_minutes >= 1 && var.archive_every_minutes <= 1440 && floor(var.archive_every_minutes) == var.archive_every_minutes
    error_message = "archive_every_minutes: a whole number of minutes from 1 to 1440."
  }
}

variable "athena_bytes_scanned_cutoff" {
  description = "The most bytes one query of the Athena workgroup may scan (Athena's minimum is 10 MB); a query past it is cancelled."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "athena_bytes_scanned_cutoff: at least 10485760 (10 MB), Athena's minimum."
  }
}
