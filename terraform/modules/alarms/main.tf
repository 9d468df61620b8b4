# Alarms, to an encrypted SNS topic (and an email, when given): a message in any
# dead-letter queue, any function error or throttle, any failed or timed-out execution.

variable "name" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

variable "email" {
  type = string
}

variable "dlq_names" {
  type = map(string)
}

variable "function_names" {
  type = map(string)
}

variable "state_machine_arns" {
  type = map(string)
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.email
}

resource "aws_cloudwatch_metric_alarm" "dlq" {
  for_each            = var.dlq_names
  alarm_name          = "${each.value}-not-empty"
  alarm_description   = "Messages wait in ${each.value}: fix the cause, then `helios redrive ${each.key}`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# Any error or throttle of any function.
resource "aws_cloudwatch_metric_alarm" "function" {
  for_each = {
    for pair in setproduct(keys(var.function_names), ["Errors", "Throttles"]) :
    "${pair[0]}-${lower(pair[1])}" => { function = var.function_names[pair[0]], metric = pair[1] }
  }
  alarm_name          = "${each.value.function}-${lower(each.value.metric)}"
  alarm_description   = "${each.value.function}: ${lower(each.value.metric)}."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = each.value.function }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "executions" {
  for_each            = var.state_machine_arns
  alarm_name          = "${var.name}-${each.key}-executions-failed"
  alarm_description   = "Executions of ${each.key} failed, timed out or were aborted."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "failed"
    expression  = "f + t + a"
    label       = "executions that did not succeed"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { f = "ExecutionsFailed", t = "ExecutionsTimedOut", a = "ExecutionsAborted" }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/States"
        metric_name = metric_query.value
        dimensions  = { StateMachineArn = each.value }
        stat        = "Sum"
        period      = 300
      }
    }
  }
}

output "topic_arn" {
  value = aws_sns_topic.alarms.arn
}
