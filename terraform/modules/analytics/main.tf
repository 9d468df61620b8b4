# The offline insight of the analytics plane: the Parquet files the `archive` function writes
# under analytics/ in the archive bucket, as Glue tables with partition projection (no
# crawler, no MSCK REPAIR: a new day's files are queryable as soon as they are written), an
# Athena workgroup whose results are encrypted with Helios's key, and the saved queries of
# shared/analytics/queries as its named queries: the same text `helios analytics query
# --saved NAME` runs locally.

variable "name" {
  type = string
}

variable "bucket" {
  description = "The archive bucket: the files are under analytics/, Athena's results under athena-results/."
  type        = string
}

variable "kms_key_arn" {
  type = string
}

variable "queries_dir" {
  description = "The saved queries (shared/analytics/queries): one named query per .sql file."
  type        = string

  validation {
    condition     = length(fileset(var.queries_dir, "*.sql")) > 0
    error_message = "queries_dir holds no .sql file: terraform/ is applied from a Helios checkout, beside shared/analytics/queries."
  }
}

variable "force_destroy" {
  type = bool
}

variable "bytes_scanned_cutoff" {
  description = "The most bytes one query of the workgroup may scan."
  type        = number
}

locals {
  spec     = jsondecode(file("${path.module}/tables.json"))
  database = "${replace(var.name, "-", "_")}_analytics"
  root     = "s3://${var.bucket}/analytics"
  # Days from the first this version could have written to today, by partition projection.
  day_projection = {
    "projection.day.type"          = "date"
    "projection.day.format"        = "yyyy-MM-dd"
    "projection.day.range"         = "2026-01-01,NOW"
    "projection.day.interval"      = "1"
    "projection.day.interval.unit" = "DAYS"
  }
}

resource "aws_glue_catalog_database" "analytics" {
  name        = local.database
  description = "Helios's archive: facts, decisions, fired rules, near misses and outcomes (Parquet, written by the archive function)"
}

resource "aws_glue_catalog_table" "table" {
  for_each      = local.spec.tables
  name          = each.key
  database_name = aws_glue_catalog_database.analytics.name
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(local.day_projection, {
    "classification"            = "parquet"
    "EXTERNAL"                  = "TRUE"
    "projection.enabled"        = "true"
    "storage.location.template" = join("/", concat([local.root, each.key], [for p in each.value.partitions : "${p}=$${${p}}"]))
    }, contains(each.value.partitions, "family") ? {
    "projection.family.type"   = "enum"
    "projection.family.values" = join(",", local.spec.families)
  } : {})

  dynamic "partition_keys" {
    for_each = each.value.partitions
    content {
      name = partition_keys.value
      type = "string"
    }
  }

  storage_descriptor {
    location      = "${local.root}/${each.key}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

resource "aws_athena_workgroup" "analytics" {
  name          = "${var.name}-analytics"
  description   = "Queries over Helios's archive; results encrypted with Helios's key"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${var.bucket}/athena-results/"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }
    }
  }
}

resource "aws_athena_named_query" "saved" {
  for_each  = fileset(var.queries_dir, "*.sql")
  name      = trimsuffix(each.key, ".sql")
  workgroup = aws_athena_workgroup.analytics.id
  database  = aws_glue_catalog_database.analytics.name
  query     = file("${var.queries_dir}/${each.key}")
  # The query's leading comment, which says what it answers.
  description = substr(join(" ", [for l in split("\n", file("${var.queries_dir}/${each.key}")) : trimspace(trimprefix(l, "--")) if startswith(l, "--")]), 0, 1024)
}

output "database" {
  value = aws_glue_catalog_database.analytics.name
}

output "workgroup" {
  value = aws_athena_workgroup.analytics.name
}

output "named_queries" {
  value = { for k, q in aws_athena_named_query.saved : trimsuffix(k, ".sql") => q.id }
}
