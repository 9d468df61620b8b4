# The state machines, one per file of `statemachines/`, deployed as they are: the only
# change is `${NameFunctionArn}` filled in with the ARN of function `name`. Each machine's
# role may invoke exactly the functions its file names. Logs (with execution data) to an
# encrypted log group; X-Ray tracing.

variable "name" {
  type = string
}

variable "definitions_dir" {
  type = string
}

variable "function_arns" {
  type = map(string)
}

variable "kms_key_arn" {
  type = string
}

variable "log_retention_days" {
  type = number
}

variable "log_level" {
  type = string
}

locals {
  files = fileset(var.definitions_dir, "*.asl.json")
  machines = {
    for f in local.files : trimsuffix(f, ".asl.json") => {
      path = "${var.definitions_dir}/${f}"
      # `${NotifyFunctionArn}` → "notify": the functions the file invokes.
      functions = distinct([
        for m in regexall("\\$\\{([A-Za-z]+)FunctionArn\\}", file("${var.definitions_dir}/${f}")) : lower(m[0])
      ])
    }
  }
  template_vars = { for k, arn in var.function_arns : "${title(k)}FunctionArn" => arn }
}

resource "aws_cloudwatch_log_group" "machine" {
  for_each          = local.machines
  name              = "/aws/vendedlogs/states/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

# Only Step Functions acting for this account's Helios machines may take the role (the
# confused-deputy conditions of the Step Functions developer guide).
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stateMachine:${var.name}-*"]
    }
  }
}

resource "aws_iam_role" "machine" {
  for_each           = local.machines
  name               = "${var.name}-sfn-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "machine" {
  for_each = local.machines

  statement {
    sid       = "InvokeItsFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = flatten([for f in each.value.functions : [var.function_arns[f], "${var.function_arns[f]}:*"]])
  }

  statement {
    sid       = "TheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  # Step Functions' log delivery and tracing take no resource-level permissions.
  statement {
    sid = "LogsAndTraces"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "machine" {
  for_each = local.machines
  role     = aws_iam_role.machine[each.key].id
  policy   = data.aws_iam_policy_document.machine[each.key].json
}

resource "aws_sfn_state_machine" "machine" {
  for_each   = local.machines
  name       = "${var.name}-${each.key}"
  type       = "STANDARD"
  role_arn   = aws_iam_role.machine[each.key].arn
  definition = templatefile(each.value.path, local.template_vars)

  logging_configuration {
    log_destination = "${aws_cloudwatch_log_group.machine[each.key].arn}:*"
    # Execution data (inputs, outputs: decision text, task tokens) only when everything is
    # logged, which is asked for, not the default.
    include_execution_data = var.log_level == "ALL"
    level                  = var.log_level
  }

  tracing_configuration {
    enabled = true
  }

  encryption_configuration {
    type                              = "CUSTOMER_MANAGED_KMS_KEY"
    kms_key_id                        = var.kms_key_arn
    kms_data_key_reuse_period_seconds = 300
  }

  depends_on = [aws_iam_role_policy.machine]
}

output "arns" {
  value = { for k, m in aws_sfn_state_machine.machine : k => m.arn }
}

output "names" {
  value = { for k, m in aws_sfn_state_machine.machine : k => m.name }
}
