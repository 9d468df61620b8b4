# The dashboard's live feed in AWS: an API Gateway WebSocket API whose `$connect`,
# `$disconnect` and `$default` routes reach the `push` function. `$connect` checks the API
# key the browser offers as its second subprotocol (`helios.v1, <key>`: a browser cannot set
# headers on a WebSocket, and a key never goes in a URL) and keeps the connection in the
# key-value table; the fan-out's `push` queue starts each push, through the Management API
# at this stage's callback URL.

variable "name" {
  type = string
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

variable "push_function_name" {
  type = string
}

variable "push_invoke_arn" {
  type = string
}

locals {
  stage = "live"
}

resource "aws_apigatewayv2_api" "this" {
  name                       = "${var.name}-live"
  protocol_type              = "WEBSOCKET"
  description                = "Helios: the dashboard's live feed"
  route_selection_expression = "$request.body.action"
}

resource "aws_apigatewayv2_integration" "push" {
  api_id                    = aws_apigatewayv2_api.this.id
  integration_type          = "AWS_PROXY"
  integration_uri           = var.push_invoke_arn
  content_handling_strategy = "CONVERT_TO_TEXT"
}

# `$connect` authenticates in the function (the key from the subprotocol header, looked up
# hashed in the store with its role), and answers with the subprotocol it selected.
resource "aws_apigatewayv2_route" "route" {
  # checkov:skip=CKV_AWS_309: $connect checks the API key in the push function (stored hashed with its role; read or admin may watch); a Lambda authorizer would look the same key up twice
  for_each  = toset(["$connect", "$disconnect", "$default"])
  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.push.id}"
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/helios/${var.name}/live-access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_apigatewayv2_stage" "live" {
  # checkov:skip=CKV2_AWS_51: browsers connect here, and a browser holds no client certificate; the API key is checked at $connect
  api_id      = aws_apigatewayv2_api.this.id
  name        = local.stage
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
      route            = "$context.routeKey"
      eventType        = "$context.eventType"
      connectionId     = "$context.connectionId"
      status           = "$context.status"
      integrationError = "$context.integrationErrorMessage"
    })
  }
}

resource "aws_lambda_permission" "push" {
  statement_id  = "AllowWebSocketApi"
  action        = "lambda:InvokeFunction"
  function_name = var.push_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}

# What the browser connects to.
output "url" {
  value = "${aws_apigatewayv2_api.this.api_endpoint}/${local.stage}"
}

output "api_id" {
  value = aws_apigatewayv2_api.this.id
}

output "stage" {
  value = local.stage
}

output "execution_arn" {
  value = aws_apigatewayv2_api.this.execution_arn
}
