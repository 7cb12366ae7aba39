// What the operator gets on day one, beside the Prometheus rules in dashboards/: the app's and the vault's logs
// in Log Analytics, and Azure Monitor alerts on them with the thresholds users already run (BRIEF's alert table):
// server errors, latency, records storage did not take, Key Vault references that fail.

param location string
param tags object
param logAnalyticsName string
param functionAppName string
param keyVaultName string

@description('Who gets the alerts by email; empty: no action group (the alerts still fire in the portal).')
param alertEmail string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource site 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource siteDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: site
  properties: {
    workspaceId: workspace.id
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

// Every secret read, and who was refused: a Key Vault reference that fails shows here first.
resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspace.id
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-llm-${uniqueString(resourceGroup().id)}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'llm-alerts'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// One log alert per row: the query yields a count (or a figure) per window; the rule fires above the threshold.
var alerts = [
  {
    name: 'llm-server-errors'
    description: 'More than 1 response with a 5xx status in 1 minute.'
    severity: 1
    window: 'PT1M'
    query: 'AppRequests | where toint(ResultCode) >= 500 | summarize Value = count()'
    threshold: 1
  }
  {
    name: 'llm-high-latency'
    description: 'P99 latency above 30 s over 5 minutes.'
    severity: 2
    window: 'PT5M'
    query: 'AppRequests | summarize Value = percentile(DurationMs, 99)'
    threshold: 30000
  }
  {
    name: 'llm-records-not-stored'
    description: 'Call records storage did not take: spooled on an instance\'s disk, calls refused with 503 storage_unavailable, or lost.'
    severity: 1
    window: 'PT5M'
    query: 'AppTraces | where Message startswith "Storage unavailable" or Message has "they are lost" or Message has "storage_unavailable" | summarize Value = count()'
    threshold: 0
  }
  {
    name: 'llm-keyvault-reference-failures'
    description: 'Secret reads refused by the vault (a Key Vault reference of the app, or anyone else).'
    severity: 1
    window: 'PT5M'
    query: 'AzureDiagnostics | where ResourceProvider == "MICROSOFT.KEYVAULT" and OperationName == "SecretGet" and httpStatusCode_d >= 400 | summarize Value = count()'
    threshold: 0
  }
]

resource rules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in alerts: {
    name: alert.name
    location: location
    tags: tags
    properties: {
      displayName: alert.name
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        workspace.id
      ]
      evaluationFrequency: alert.window
      windowSize: alert.window
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Maximum'
            metricMeasureColumn: 'Value'
            operator: 'GreaterThan'
            threshold: alert.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
      }
    }
  }
]
