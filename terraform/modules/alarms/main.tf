# Alarms, to an encrypted SNS topic (and an email, when given): a message in any
# dead-letter queue, any function error or throttle, any failed or timed-out execution, and
# the error budget of the event-to-decision objective burning too fast. And the CloudWatch
# dashboard of the same signals.

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

# The functions whose samples the objectives' alarms read: decide's `EventToDecision`,
# record's `DecisionToNotification`.
variable "decide_function" {
  type = string
}

variable "record_function" {
  type = string
}

# The service level objectives (the root's `slo`).
variable "slo" {
  type = object({
    period                   = string
    event_to_decision        = object({ within = string, objective = number })
    decision_to_notification = object({ within = string, objective = number })
    reconciliation_accuracy  = object({ objective = number })
  })
}

locals {
  unit_seconds = { s = 1, m = 60, h = 3600, d = 86400 }
  # A span (1h30m) in seconds.
  slo_seconds = {
    for k, span in {
      event-to-decision        = var.slo.event_to_decision.within
      decision-to-notification = var.slo.decision_to_notification.within
      period                   = var.slo.period
    } :
    k => sum([for m in regexall("([0-9]+)([smhd])", span) : tonumber(m[0]) * local.unit_seconds[m[1]]])
  }
  # The objectives on latency, each with the samples it reads.
  latency_slos = {
    event-to-decision = {
      objective = var.slo.event_to_decision, function = var.decide_function,
      metric    = "EventToDecision", items = "Events decided"
    }
    decision-to-notification = {
      objective = var.slo.decision_to_notification, function = var.record_function,
      metric    = "DecisionToNotification", items = "Decisions notified"
    }
  }
  # The SRE workbook's multi-window burn-rate alerts: a page when 2 % of the period's budget
  # burns within an hour, a ticket when 5 % burns within six hours, each confirmed by a window
  # a twelfth as long (so that it stops soon after the burning does). A burn rate of 1 spends
  # the budget exactly over the period.
  burn_windows = {
    page-long    = { alert = "page", seconds = 3600, rate = 0.02 * local.slo_seconds.period / 3600 }
    page-short   = { alert = "page", seconds = 300, rate = 0.02 * local.slo_seconds.period / 3600 }
    ticket-long  = { alert = "ticket", seconds = 21600, rate = 0.05 * local.slo_seconds.period / 21600 }
    ticket-short = { alert = "ticket", seconds = 1800, rate = 0.05 * local.slo_seconds.period / 21600 }
  }
  # Each objective's burn rate over a window, as metric math over the metrics it reads
  # (`queries`: id, metric, dimension, stat).
  reconciled = "(FILL(matched, 0) + FILL(mismatched, 0) + FILL(missed, 0))"
  burn_objectives = merge(
    {
      # The share of the window's samples later than the objective's `within` (100 minus
      # the percentile rank of `within` among them), over the share the objective allows.
      for k, o in local.latency_slos : k => {
        summary    = "${o.objective.objective} % within ${o.objective.within}"
        bad        = "${o.items} later than ${o.objective.within}"
        objective  = o.objective.objective
        expression = "(100 - in_time) / ${100 - o.objective.objective}"
        queries = [{
          id   = "in_time", metric = o.metric, dimension = { Function = o.function },
          stat = "PR(:${local.slo_seconds[k] * 1000})"
        }]
      }
    },
    {
      # Of the reconciliations decided in the window (expect's `Reconciliations` by
      # Verdict), the share not `matched` (mismatched, or missed by a source), over the
      # share the objective allows. A window without reconciliations burns nothing.
      reconciliation-accuracy = {
        summary    = "${var.slo.reconciliation_accuracy.objective} % of reconciliations matched"
        bad        = "Reconciliations whose sources disagreed or did not all report"
        objective  = var.slo.reconciliation_accuracy.objective
        expression = "IF(${local.reconciled} > 0, 100 * (${local.reconciled} - FILL(matched, 0)) / ${local.reconciled} / ${100 - var.slo.reconciliation_accuracy.objective}, 0)"
        queries = [for v in ["matched", "mismatched", "missed"] : {
          id = v, metric = "Reconciliations", dimension = { Verdict = v }, stat = "Sum"
        }]
      }
    },
  )
  burn_alarms = {
    for pair in setproduct(keys(local.burn_objectives), keys(local.burn_windows)) :
    "${pair[0]}-${pair[1]}" => merge(local.burn_windows[pair[1]], { slo = pair[0] }, local.burn_objectives[pair[0]])
  }
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

# A notify channel's endpoint failed often enough that its circuit opened (notify's
# `CircuitOpened`, counted without its Channel dimension too; the dashboard names the channel).
resource "aws_cloudwatch_metric_alarm" "circuit_opened" {
  alarm_name          = "${var.name}-notify-circuit-opened"
  alarm_description   = "A notify channel's endpoint failed 5 times in a row (BREAKER_FAILURES) and its circuit opened: its notifications fail fast for a minute at a time. The CloudWatch dashboard names the channel."
  namespace           = "Helios"
  metric_name         = "CircuitOpened"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
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

# How fast an objective's budget burns over one window (`burn_objectives`).
resource "aws_cloudwatch_metric_alarm" "slo_burn" {
  for_each            = local.burn_alarms
  alarm_name          = "${var.name}-slo-${each.value.slo}-burn-${each.value.alert}-${each.value.seconds / 60}m"
  alarm_description   = "${each.value.bad} burn the error budget of ${each.value.objective} % over ${var.slo.period} more than ${each.value.rate} times as fast as it lasts, over ${each.value.seconds / 60} minutes. Part of the ${each.value.alert} alert."
  evaluation_periods  = 1
  threshold           = each.value.rate
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "burn"
    expression  = each.value.expression
    label       = "burn rate"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = each.value.queries
    content {
      id = metric_query.value.id
      metric {
        namespace   = "Helios"
        metric_name = metric_query.value.metric
        dimensions  = metric_query.value.dimension
        stat        = metric_query.value.stat
        period      = each.value.seconds
      }
    }
  }
}

# An alert fires when both of its windows burn: the long one says enough budget went, the
# short one that it is still going.
resource "aws_cloudwatch_composite_alarm" "slo_burn" {
  for_each = {
    for pair in setproduct(keys(local.burn_objectives), ["page", "ticket"]) :
    "${pair[0]}-${pair[1]}" => { slo = pair[0], alert = pair[1] }
  }
  alarm_name        = "${var.name}-slo-${each.value.slo}-${each.value.alert}"
  alarm_description = "The ${each.value.slo} objective (${local.burn_objectives[each.value.slo].summary}) burns its budget too fast: ${each.value.alert}. GET /v1/slo shows every window."
  alarm_rule = join(" AND ", [
    for w in ["long", "short"] : "ALARM(\"${aws_cloudwatch_metric_alarm.slo_burn["${each.value.slo}-${each.value.alert}-${w}"].alarm_name}\")"
  ])
  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
}

data "aws_region" "current" {}

# The dashboard's widgets of metrics with a dimension whose values only the functions know.
locals {
  search_widgets = [
    { title = "Refused requests by problem type", metric = "Refused", dimension = "ProblemType", stat = "Sum" },
    { title = "Rules that fired", metric = "RuleFired", dimension = "Rule", stat = "Sum" },
    { title = "Rules that nearly fired (one check in the way)", metric = "NearMisses", dimension = "Rule", stat = "Sum" },
    { title = "Store transactions (ms, p99) by function", metric = "StoreCommit", dimension = "Function", stat = "p99" },
    { title = "Notify circuits opened, by channel", metric = "CircuitOpened", dimension = "Channel", stat = "Sum" },
  ]
}

# The same signals on one page: what the functions handled and failed, how long they took,
# the dead letters, the executions, and the objective.
resource "aws_cloudwatch_dashboard" "helios" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = concat([
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Service level objectives: % in time (objectives ${var.slo.event_to_decision.objective} % and ${var.slo.decision_to_notification.objective} %)"
          region = data.aws_region.current.name
          view   = "timeSeries"
          period = 300
          metrics = [for k, o in local.latency_slos :
            ["Helios", o.metric, "Function", o.function, { stat = "PR(:${local.slo_seconds[k] * 1000})", label = "${o.items} within ${o.objective.within}" }]
          ]
          yAxis = { left = { min = 0, max = 100 } }
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Event to decision and decision to notification (ms)"
          region = data.aws_region.current.name
          view   = "timeSeries"
          period = 300
          metrics = flatten([for k, o in local.latency_slos : [for p in ["p50", "p99"] :
            ["Helios", o.metric, "Function", o.function, { stat = p, label = "${o.metric} ${p}" }]
          ]])
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Messages and failed messages per consumer"
          region = data.aws_region.current.name
          view   = "timeSeries"
          stat   = "Sum"
          period = 300
          metrics = flatten([for k, f in var.function_names : [
            ["Helios", "Messages", "Function", f, { label = "${k} messages" }],
            ["Helios", "MessagesFailed", "Function", f, { label = "${k} failed" }],
          ] if contains(["decide", "expect", "push"], k)])
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Function errors and throttles"
          region = data.aws_region.current.name
          view   = "timeSeries"
          stat   = "Sum"
          period = 300
          metrics = flatten([for k, f in var.function_names : [
            ["AWS/Lambda", "Errors", "FunctionName", f, { label = "${k} errors" }],
            ["AWS/Lambda", "Throttles", "FunctionName", f, { label = "${k} throttles" }],
          ]])
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title  = "Dead letters waiting"
          region = data.aws_region.current.name
          view   = "timeSeries"
          stat   = "Maximum"
          period = 300
          metrics = [for k, q in var.dlq_names :
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q, { label = k }]
          ]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title  = "Executions that did not succeed"
          region = data.aws_region.current.name
          view   = "timeSeries"
          stat   = "Sum"
          period = 300
          metrics = flatten([for k, arn in var.state_machine_arns : [
            for m in ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"] :
            ["AWS/States", m, "StateMachineArn", arn, { label = "${k} ${m}" }]
          ]])
        }
      },
      {
        type = "metric", x = 0, y = 18, width = 24, height = 6
        properties = {
          title  = "Decisions by severity, and reconciliations by verdict"
          region = data.aws_region.current.name
          view   = "timeSeries"
          stat   = "Sum"
          period = 300
          metrics = concat(
            [for sev in ["none", "low", "medium", "high", "critical"] : ["Helios", "Decisions", "Severity", sev, { label = "decisions ${sev}" }]],
            [for v in ["matched", "mismatched", "missed"] : ["Helios", "Reconciliations", "Verdict", v, { label = "reconciliations ${v}" }]],
          )
        }
      },
      ], [
      # One line per value of the dimension the functions have written (their embedded
      # metrics), found by SEARCH, each widget beside the one before.
      for i, w in local.search_widgets : {
        type = "metric", x = (i % 2) * 12, y = 24 + floor(i / 2) * 6, width = 12, height = 6
        properties = {
          title   = w.title
          region  = data.aws_region.current.name
          view    = "timeSeries"
          period  = 300
          metrics = [[{ expression = "SEARCH('{Helios,${w.dimension}} MetricName=\"${w.metric}\"', '${w.stat}', 300)", id = "found", label = "" }]]
        }
      }
    ])
  })
}

output "topic_arn" {
  value = aws_sns_topic.alarms.arn
}
