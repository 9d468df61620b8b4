# Where Helios keeps raw payloads (S3: private, encrypted, versioned, TLS only) and its
# idempotency keys, counters and expectation state (DynamoDB: on demand, TTL, PITR).

variable "name" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

variable "archive_ia_after_days" {
  type = number
}

variable "archive_expire_after_days" {
  type = number
}

variable "force_destroy" {
  type = bool
}

data "aws_caller_identity" "current" {}

resource "aws_s3_bucket" "archive" {
  # checkov:skip=CKV_AWS_18: only the Helios functions' roles reach the bucket (private, TLS only, no public access); enable CloudTrail S3 data events to record each access, as a log bucket would itself need logging
  # checkov:skip=CKV2_AWS_62: nothing consumes object events: a payload is archived and recorded by the same request
  # checkov:skip=CKV_AWS_144: the archive is the replay source of facts that RDS keeps with backups; versioning guards it against overwrites, replication to a second region would double its cost
  bucket        = "${var.name}-archive-${data.aws_caller_identity.current.account_id}"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_public_access_block" "archive" {
  bucket                  = aws_s3_bucket.archive.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  bucket = aws_s3_bucket.archive.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "archive" {
  bucket = aws_s3_bucket.archive.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "archive" {
  bucket     = aws_s3_bucket.archive.id
  policy     = data.aws_iam_policy_document.tls_only.json
  depends_on = [aws_s3_bucket_public_access_block.archive]
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  lifecycle {
    precondition {
      condition     = var.archive_expire_after_days == 0 || var.archive_expire_after_days > var.archive_ia_after_days
      error_message = "archive_expire_after_days must be 0 (keep for ever) or more than archive_ia_after_days (30 by default): S3 refuses an expiry that does not follow the Standard-IA transition."
    }
  }

  rule {
    id     = "raw-payloads"
    status = "Enabled"
    filter {}

    transition {
      days          = var.archive_ia_after_days
      storage_class = "STANDARD_IA"
    }

    dynamic "expiration" {
      for_each = var.archive_expire_after_days > 0 ? [var.archive_expire_after_days] : []
      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # What Athena writes of each query's results: read once, by whoever ran it.
  rule {
    id     = "athena-results"
    status = "Enabled"
    filter {
      prefix = "athena-results/"
    }

    expiration {
      days = 7
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }
}

resource "aws_dynamodb_table" "state" {
  name         = "${var.name}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  deletion_protection_enabled = !var.force_destroy
}

output "bucket" {
  value = aws_s3_bucket.archive.id
}

output "bucket_arn" {
  value = aws_s3_bucket.archive.arn
}

output "table" {
  value = aws_dynamodb_table.state.name
}

output "table_arn" {
  value = aws_dynamodb_table.state.arn
}
