# The dashboard in AWS: its built files (dashboard/dist, copied by package.sh) in a private
# bucket behind CloudFront, which reads them with origin access control. CloudFront also
# forwards /v1/* to the HTTP API, uncached, so the page calls the API on its own origin (no
# CORS, no key in a URL); config.json beside the files names the live feed's WebSocket URL.
# Every answer carries a strict Content-Security-Policy: scripts from this origin only.

variable "name" {
  type = string
}

variable "assets_dir" {
  description = "The dashboard's built files (package.sh copies dashboard/dist here)."
  type        = string
}

variable "api_url" {
  description = "The HTTP API's endpoint (https://…execute-api…amazonaws.com)."
  type        = string
}

variable "live_url" {
  description = "The live feed's WebSocket URL (wss://…/live)."
  type        = string
}

variable "price_class" {
  type = string
}

variable "web_acl_arn" {
  description = "A WAF web ACL (scope CLOUDFRONT, made in us-east-1) to attach, or empty."
  type        = string
}

data "aws_region" "current" {}

locals {
  types = {
    html = "text/html; charset=utf-8"
    js   = "text/javascript; charset=utf-8"
    css  = "text/css; charset=utf-8"
    json = "application/json"
    svg  = "image/svg+xml"
    png  = "image/png"
    ico  = "image/x-icon"
    map  = "application/json"
  }
  files = fileset(var.assets_dir, "**")
  # The API's host, without the scheme.
  api_host = trimprefix(var.api_url, "https://")
  # Managed policies (their ids are the same in every account).
  caching_optimized      = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  caching_disabled       = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  all_viewer_except_host = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
  socket_origins         = "wss://*.execute-api.${data.aws_region.current.name}.amazonaws.com"
}

resource "aws_s3_bucket" "assets" {
  # checkov:skip=CKV_AWS_18: the files are public by nature (every visitor loads them) and CloudFront alone reads them; CloudFront's standard logs are the access record to turn on
  # checkov:skip=CKV_AWS_144: the files are rebuilt from source by package.sh and put back by terraform apply; a replica would hold nothing that cannot be made again
  # checkov:skip=CKV_AWS_145: the files are public by nature; SSE-S3 lets CloudFront's origin access read them without a KMS grant to the CloudFront service
  # checkov:skip=CKV2_AWS_62: nothing consumes object events: terraform writes the files
  bucket_prefix = "${var.name}-dashboard-"
  # Build output, made again by package.sh: `terraform destroy` empties it (every version
  # of every file) rather than failing on a versioned bucket that is not empty.
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "assets" {
  bucket                  = aws_s3_bucket.assets.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "assets" {
  bucket = aws_s3_bucket.assets.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "assets" {
  bucket = aws_s3_bucket.assets.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Old versions of replaced files go after a month.
resource "aws_s3_bucket_lifecycle_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id
  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_object" "asset" {
  for_each     = local.files
  bucket       = aws_s3_bucket.assets.id
  key          = each.value
  source       = "${var.assets_dir}/${each.value}"
  etag         = filemd5("${var.assets_dir}/${each.value}")
  content_type = lookup(local.types, reverse(split(".", each.value))[0], "application/octet-stream")
  # index.html names the other files: always asked again.
  cache_control = each.value == "index.html" ? "no-cache" : "public, max-age=300"
  # Written once versioning and encryption are on (so every version is kept and encrypted),
  # and deleted, every version, before versioning is suspended on destroy: a delete marker
  # left behind would have to be emptied by force_destroy.
  depends_on = [aws_s3_bucket_versioning.assets, aws_s3_bucket_server_side_encryption_configuration.assets]
}

# Where the page finds the API (its own origin, through the /v1/* behaviour) and the feed.
resource "aws_s3_object" "config" {
  bucket        = aws_s3_bucket.assets.id
  key           = "config.json"
  content       = jsonencode({ api = "", socket = var.live_url })
  content_type  = "application/json"
  cache_control = "no-cache"
  # Written once versioning and encryption are on (so every version is kept and encrypted),
  # and deleted, every version, before versioning is suspended on destroy: a delete marker
  # left behind would have to be emptied by force_destroy.
  depends_on = [aws_s3_bucket_versioning.assets, aws_s3_bucket_server_side_encryption_configuration.assets]
}

resource "aws_cloudfront_origin_access_control" "assets" {
  name                              = "${var.name}-dashboard"
  description                       = "Helios dashboard: CloudFront reads the assets bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_response_headers_policy" "strict" {
  name    = "${var.name}-dashboard"
  comment = "Helios dashboard: no inline script, nothing framed, nothing sniffed"

  security_headers_config {
    content_security_policy {
      content_security_policy = join("; ", [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' ${local.socket_origins}",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
      ])
      override = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
  }
}

resource "aws_cloudfront_distribution" "dashboard" {
  # checkov:skip=CKV_AWS_86: standard logs need a log bucket with ACLs enabled; turn them on with a bucket of your own (docs/deploy.md)
  # checkov:skip=CKV_AWS_174: without a custom domain the distribution serves *.cloudfront.net's certificate, whose TLS policy CloudFront sets (TLS 1.2 or newer for modern browsers); a custom domain and its ACM certificate are the deployer's
  # checkov:skip=CKV2_AWS_42: as CKV_AWS_174: no custom domain, so no certificate of ours
  # checkov:skip=CKV_AWS_310: one bucket and one API in one region; a second origin would be a second deployment
  # checkov:skip=CKV_AWS_374: who may look is decided by the API key, not by country
  # checkov:skip=CKV_AWS_68: a WAF web ACL is attached when var.dashboard_web_acl_arn is set (it must be made in us-east-1, and costs $5 a month and more); the API authenticates every call
  # checkov:skip=CKV2_AWS_47: as CKV_AWS_68
  enabled             = true
  comment             = "Helios dashboard (${var.name})"
  default_root_object = "index.html"
  price_class         = var.price_class
  http_version        = "http2and3"
  is_ipv6_enabled     = true
  web_acl_id          = var.web_acl_arn == "" ? null : var.web_acl_arn

  origin {
    origin_id                = "assets"
    domain_name              = aws_s3_bucket.assets.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.assets.id
  }

  origin {
    origin_id   = "api"
    domain_name = local.api_host
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    target_origin_id           = "assets"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = local.caching_optimized
    response_headers_policy_id = aws_cloudfront_response_headers_policy.strict.id
  }

  # The API, uncached, with every header but Host (the key travels in Authorization).
  ordered_cache_behavior {
    path_pattern               = "/v1/*"
    target_origin_id           = "api"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = local.caching_disabled
    origin_request_policy_id   = local.all_viewer_except_host
    response_headers_policy_id = aws_cloudfront_response_headers_policy.strict.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}

# CloudFront, for this distribution only, may read the files.
data "aws_iam_policy_document" "assets" {
  statement {
    sid       = "CloudFrontReads"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.assets.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.dashboard.arn]
    }
  }
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.assets.arn, "${aws_s3_bucket.assets.arn}/*"]
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

resource "aws_s3_bucket_policy" "assets" {
  bucket     = aws_s3_bucket.assets.id
  policy     = data.aws_iam_policy_document.assets.json
  depends_on = [aws_s3_bucket_public_access_block.assets]
}

output "url" {
  value = "https://${aws_cloudfront_distribution.dashboard.domain_name}"
}

output "bucket" {
  value = aws_s3_bucket.assets.id
}
