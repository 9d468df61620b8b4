# One Lambda per entry of `functions`: its own role with exactly the statements given (plus
# its own log group, the key, and the VPC when it runs in one), its own encrypted log group
# with retention, JSON logs, X-Ray tracing, and a dead-letter queue for asynchronous
# invocations that failed every retry.

variable "name" {
  type = string
}

variable "functions" {
  type = map(object({
    description          = string
    zip                  = string
    memory               = number
    timeout              = number
    vpc                  = bool
    config_layer         = bool
    reserved_concurrency = number
    environment          = map(string)
    statements = list(object({
      actions   = list(string)
      resources = list(string)
    }))
  }))
}

variable "architecture" {
  type = string
}

variable "config_layer_arn" {
  description = "The layer with the rule set and the RDS certificate bundle (/opt)."
  type        = string
}

variable "after" {
  description = "Something the functions are created or changed only after (the migrate invocation's result, for every function but migrate): a new version of the code never meets an old schema."
  type        = string
  default     = ""
}

variable "kms_key_arn" {
  type = string
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_id" {
  type = string
}

variable "async_failures_arn" {
  type = string
}

variable "log_retention_days" {
  type = number
}

variable "log_level" {
  type = string
}

variable "otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT of every function; empty: spans are not exported."
  type        = string
  default     = ""
}

variable "otel_layer_arn" {
  description = "A collector layer added to every function; empty: none."
  type        = string
  default     = ""
}

locals {
  # The OpenTelemetry settings of every function: where spans go, named after the function.
  otel_environment = var.otlp_endpoint == "" ? {} : {
    OTEL_EXPORTER_OTLP_ENDPOINT = var.otlp_endpoint
  }
}

resource "aws_cloudwatch_log_group" "fn" {
  for_each          = var.functions
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "fn" {
  for_each           = var.functions
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "fn" {
  for_each = var.functions

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.fn[each.key].arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "TheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "AsyncFailures"
    actions   = ["sqs:SendMessage"]
    resources = [var.async_failures_arn]
  }

  dynamic "statement" {
    for_each = each.value.statements
    content {
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "fn" {
  for_each = var.functions
  role     = aws_iam_role.fn[each.key].id
  policy   = data.aws_iam_policy_document.fn[each.key].json
}

# The network interfaces a function in a VPC needs, and nothing else (AWS's managed policy
# for exactly that, as terraform-aws-modules/lambda attaches): the VPC access execution role
# would also grant logs on every log group and undo the per-function scope.
resource "aws_iam_role_policy_attachment" "vpc" {
  for_each   = { for k, f in var.functions : k => f if f.vpc }
  role       = aws_iam_role.fn[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaENIManagementAccess"
}

# The ordering edge of `after`: the functions depend on this, and this on its input.
resource "terraform_data" "after" {
  input = var.after
}

resource "aws_lambda_function" "fn" {
  # checkov:skip=CKV_AWS_272: the zips are built from source by package.sh on the deployer's machine; code signing needs an AWS Signer profile the deployer owns (docs/deploy.md, hardening)
  for_each         = var.functions
  function_name    = "${var.name}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.fn[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = each.value.zip
  source_code_hash = filebase64sha256(each.value.zip)
  memory_size      = each.value.memory
  timeout          = each.value.timeout
  kms_key_arn      = var.kms_key_arn
  layers = concat(
    each.value.config_layer ? [var.config_layer_arn] : [],
    var.otel_layer_arn == "" ? [] : [var.otel_layer_arn],
  )

  reserved_concurrent_executions = each.value.reserved_concurrency

  environment {
    variables = merge({ RUST_LOG = var.log_level }, local.otel_environment, each.value.environment)
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.fn[each.key].name
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = var.async_failures_arn
  }

  dynamic "vpc_config" {
    for_each = each.value.vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = [var.security_group_id]
    }
  }

  depends_on = [aws_iam_role_policy.fn, aws_iam_role_policy_attachment.vpc, terraform_data.after]
}

output "arns" {
  value = { for k, f in aws_lambda_function.fn : k => f.arn }
}

output "names" {
  value = { for k, f in aws_lambda_function.fn : k => f.function_name }
}

output "invoke_arns" {
  value = { for k, f in aws_lambda_function.fn : k => f.invoke_arn }
}
