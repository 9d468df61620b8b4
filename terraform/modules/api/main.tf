# The HTTP API in front of `ingest`, `query` and `ack`. Every route authenticates inside its
# function: API keys (stored hashed, with roles and per-key rate limits) for /v1/events,
# the query API and acknowledgements; each source's own verification for the hooks. The
# stage throttles as a whole and logs every request as JSON to an encrypted log group.

variable "name" {
  type = string
}

variable "routes" {
  description = "Route key (\"POST /v1/events\") → function key."
  type        = map(string)
}

variable "function_names" {
  type = map(string)
}

variable "invoke_arns" {
  type = map(string)
}

variable "kms_key_arn" {
  type = string
}

variable "log_retention_days" {
  type = number
}

variable "throttle_rate" {
  type = number
}

variable "throttle_burst" {
  type = number
}

locals {
  targets = toset(values(var.routes))
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  protocol_type = "HTTP"
  description   = "Helios: events in, decisions and executions out"
}

resource "aws_apigatewayv2_integration" "fn" {
  for_each               = local.targets
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = var.invoke_arns[each.key]
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

# Authentication is each function's (see above); API Gateway HTTP APIs have no API keys.
resource "aws_apigatewayv2_route" "route" {
  # checkov:skip=CKV_AWS_309: every route authenticates in its function: API keys stored hashed with roles and per-key rate limits, or the hook source's own signature or token; HTTP APIs have no API keys, and an authorizer would look the same key up twice
  for_each  = var.routes
  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.fn[each.value].id}"
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/helios/${var.name}/api-access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.throttle_rate
    throttling_burst_limit = var.throttle_burst
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      time             = "$context.requestTime"
      ip               = "$context.identity.sourceIp"
      method           = "$context.httpMethod"
      route            = "$context.routeKey"
      path             = "$context.path"
      status           = "$context.status"
      length           = "$context.responseLength"
      latencyMs        = "$context.responseLatency"
      integrationMs    = "$context.integrationLatency"
      integrationError = "$context.integrationErrorMessage"
    })
  }
}

resource "aws_lambda_permission" "api" {
  for_each      = local.targets
  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = var.function_names[each.key]
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}

output "url" {
  value = aws_apigatewayv2_api.this.api_endpoint
}

output "api_id" {
  value = aws_apigatewayv2_api.this.id
}
